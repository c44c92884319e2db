import pytest
from django.test import Client


@pytest.mark.django_db
def test_it_documents_the_auth_endpoints():
    schema = Client().get("/api/v1/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    import yaml

    doc = yaml.safe_load(schema.content) if not schema["Content-Type"].startswith("application/json") \
        else schema.json()
    paths = doc["paths"]
    assert "post" in paths["/api/v1/auth/login"] and "post" in paths["/api/v1/auth/logout"]
    assert "get" in paths["/api/v1/auth/me"]
    login = doc["components"]["schemas"]["Login"]
    assert set(login["properties"]) == {"session_token", "expires_at", "user"}
    assert set(doc["components"]["schemas"]["User"]["properties"]) == {
        "id", "external_id", "email", "flash_user_id", "tier", "plan"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
