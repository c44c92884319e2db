"""GET /api/v1/timepoints/{id} and PATCH …/visibility → the same Flash paths."""

import json


def test_it_relays_a_timepoint_read(as_alice, alice, flash):
    timepoint = flash._timepoint(alice.flash_user_id, {"query": "Rome burns"})
    response = as_alice.get(f"/api/v1/timepoints/{timepoint['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == timepoint["id"]
    (sent,) = flash.received(f"/api/v1/timepoints/{timepoint['id']}$", "GET")
    assert sent.headers["x-user-id"] == alice.flash_user_id


def test_it_passes_flashs_404_through(as_alice, flash):
    response = as_alice.get("/api/v1/timepoints/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Timepoint not found"}


def test_it_relays_a_visibility_change_with_its_body(as_alice, alice, flash):
    timepoint = flash._timepoint(alice.flash_user_id, {"query": "Rome burns"})
    response = as_alice.patch(f"/api/v1/timepoints/{timepoint['id']}/visibility",
                              data=json.dumps({"visibility": "public"}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["visibility"] == "public"
    (sent,) = flash.received("/visibility$", "PATCH")
    assert sent.path == f"/api/v1/timepoints/{timepoint['id']}/visibility"
    assert sent.json() == {"visibility": "public"}
    assert sent.headers["content-type"] == "application/json"


def test_it_passes_flashs_validation_error_through(as_alice, alice, flash):
    timepoint = flash._timepoint(alice.flash_user_id, {"query": "Rome burns"})
    response = as_alice.patch(f"/api/v1/timepoints/{timepoint['id']}/visibility",
                              data=json.dumps({"visibility": "loud"}), content_type="application/json")
    assert response.status_code == 422
    assert "visibility" in response.json()["detail"]
