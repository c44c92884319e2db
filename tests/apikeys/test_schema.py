def test_the_key_endpoints_are_in_the_schema(client, db):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    keys = schema["paths"]["/api/v1/keys"]
    assert set(keys) >= {"get", "post"}
    created = keys["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert "key" in schema["components"]["schemas"][created]["properties"]
    assert "delete" in schema["paths"]["/api/v1/keys/{key_id}"]
