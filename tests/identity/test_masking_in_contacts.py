"""Sensitive contact fields are masked in API responses for roles without contacts.read_sensitive."""


def test_executives_see_a_masked_phone_in_contact_responses(client, client_for):
    created = client.post("/api/contacts", json={"email": "masked@example.com", "first_name": "Mia",
                                                  "last_name": "Ross", "phone": "+1 202 555 0143"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]
    assert created.json()["phone"] == "+12025550143"

    executive = client_for("executive")
    seen = executive.get(f"/api/contacts/{contact_id}").json()
    assert seen["phone"].endswith("43") and "202555" not in seen["phone"]
    assert seen["phone_display"] == seen["phone"]
    listed = executive.get("/api/contacts", params={"q": "masked"}).json()["items"]
    assert listed and all("202555" not in (item["phone"] or "") for item in listed)
    assert all("202" not in (item.get("phone_display") or "") for item in listed)
