from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def traffic(alice, bob, make_record):
    today = dt.datetime.now(dt.UTC).date()
    for n in range(6):
        make_record(_at(today - dt.timedelta(days=3)), account=alice, credits_spent=2, endpoint="/api/v1/generate")
    make_record(_at(today - dt.timedelta(days=3)), account=alice, status_code=502, endpoint="/api/v1/generate")
    make_record(_at(today), account=bob, endpoint="/api/v1/credits/balance")
    call_command("rollup_usage", "--no-purge")  # three days ago from roll-ups, today raw
    return today


def test_it_is_linked_from_the_admin_index(staff_client):
    body = staff_client.get("/admin/").content.decode()
    assert "/admin/metering/usagedashboard/" in body


def test_it_renders_charts_and_top_lists_with_data(staff_client, traffic, alice):
    response = staff_client.get("/admin/metering/usagedashboard/?days=7")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg class=\"usage-chart\"") == 3  # requests, credits, error rate (no sales yet)
    # Nothing fetched from elsewhere: every script is the admin's own static file.
    assert re.findall(r'<script[^>]*src="(?!/static/)', body) == [] and "cdn" not in body.lower()
    assert f"{(traffic - dt.timedelta(days=3)).isoformat()}: 7</title>" in body  # requests bar tooltip
    assert f"{traffic.isoformat()}: 1</title>" in body
    assert f"{(traffic - dt.timedelta(days=3)).isoformat()}: 12</title>" in body  # credits bar
    assert "14.3%" in body  # 1 error in 7 requests
    assert "alice@example.com" in body and "/api/v1/credits/balance" in body
    assert response.context["totals"] == {"requests": 8, "errors": 1, "credits_spent": 12}
    assert [row["label"] for row in response.context["top_accounts"]] == ["alice@example.com", "bob@example.com"]


def test_it_is_for_staff_only(client, alice):
    assert client.get("/admin/metering/usagedashboard/").status_code == 302


def test_the_records_list_filters_and_does_not_count_the_whole_table(staff_client, traffic, alice,
                                                                      django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = staff_client.get(f"/admin/metering/usagerecord/?account={alice.pk}&status_class=5xx")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list.values_list("status_code", flat=True)) == [502]
    assert response.context["cl"].full_result_count is None  # no COUNT(*) of everything
    day = traffic - dt.timedelta(days=3)
    response = staff_client.get(
        f"/admin/metering/usagerecord/?created_at__year={day.year}&created_at__month={day.month}")
    assert response.status_code == 200
    assert f"created_at__day={day.day}" in response.content.decode()


def test_the_records_list_is_an_audit_trail_nobody_edits_or_deletes(staff_client, traffic):
    from metering.models import UsageRecord

    record = UsageRecord.objects.first()
    listing = staff_client.get("/admin/metering/usagerecord/")
    assert listing.status_code == 200
    assert "delete_selected" not in listing.content.decode()  # no bulk delete action
    assert staff_client.post("/admin/metering/usagerecord/", {
        "action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}).status_code == 200
    assert staff_client.get(f"/admin/metering/usagerecord/{record.pk}/delete/").status_code == 403
    assert staff_client.post(f"/admin/metering/usagerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff_client.get("/admin/metering/usagerecord/add/").status_code == 403
    assert UsageRecord.objects.filter(pk=record.pk).exists()
    assert UsageRecord.objects.count() == 8
