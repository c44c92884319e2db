from django.test import Client


def test_it_lists_plans_packages_and_apple_products_without_a_credential(db):
    response = Client().get("/api/v1/billing/plans")
    assert response.status_code == 200
    body = response.json()
    plans = {p["id"]: p for p in body["plans"]}
    assert set(plans) == {"free", "explorer", "historian", "api_pro"}
    assert plans["historian"] == {"id": "historian", "name": "Historian", "credits_per_month": 200,
                                  "price": "14.99", "currency": "usd", "hd": True, "tier": "free"}
    assert plans["api_pro"]["tier"] == "pro" and plans["api_pro"]["credits_per_month"] == 1000
    assert {p["id"]: p["credits"] for p in body["packages"]} == {"100_credits": 100, "500_credits": 500}
    assert all(set(p) == {"product_id", "credits"} for p in body["apple_products"])
