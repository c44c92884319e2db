from django.urls import path

from . import views

urlpatterns = [
    path("plans", views.PlansView.as_view(), name="billing-plans"),
    path("checkout", views.CheckoutView.as_view(), name="billing-checkout"),
    path("portal", views.BillingPortalView.as_view(), name="billing-portal"),
    path("auto-reload", views.AutoReloadView.as_view(), name="billing-auto-reload"),
    path("payment-method", views.PaymentMethodView.as_view(), name="billing-payment-method"),
    path("webhooks/stripe", views.StripeWebhookView.as_view(), name="billing-webhook-stripe"),
    path("verify-receipt", views.VerifyReceiptView.as_view(), name="billing-verify-receipt"),
]
