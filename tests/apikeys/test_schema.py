def test_the_key_endpoints_are_in_the_schema(client, db):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    keys = schema["paths"]["/api/v1/keys"]
    assert set(keys) >= {"get", "post"}
    created = keys["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "key" in schema["components"]["schemas"][created]["properties"]
    assert "delete" in schema["paths"]["/api/v1/keys/{key_id}"]


def test_the_key_changes_and_rolls_are_in_the_schema_with_their_fields(client, db):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    key = schema["paths"]["/api/v1/keys/{key_id}"]
    assert {"patch", "delete"} <= set(key)
    assert {"200", "400", "404"} <= set(key["patch"]["responses"])
    roll = schema["paths"]["/api/v1/keys/{key_id}/roll"]["post"]
    assert {"201", "409"} <= set(roll["responses"])
    returned = roll["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert {"key", "monthly_credit_limit", "expires_at", "credits_spent_this_month", "replaced_by"} <= set(
        schema["components"]["schemas"][returned]["properties"])
    request = roll["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][request]["properties"]["grace_seconds"]["maximum"] == 604800
