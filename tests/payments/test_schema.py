from django.test import Client


def test_it_documents_every_billing_endpoint(db):
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("plans", "checkout", "portal", "webhooks/stripe", "verify-receipt"):
        assert f"/api/v1/billing/{path}" in schema["paths"], path
    receipt = schema["paths"]["/api/v1/billing/verify-receipt"]["post"]
    assert "requestBody" in receipt and "200" in receipt["responses"]
