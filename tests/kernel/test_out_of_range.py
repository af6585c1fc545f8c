def test_huge_ids_are_bad_input_not_server_errors(client):
    for path in ("/api/contacts/99999999999999999999", "/api/contacts/9999999999"):
        response = client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
