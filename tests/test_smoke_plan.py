from tests.conftest import text_of


def test_alex_sees_integrated_plan(demo):
    alex = demo.login("alex@example.com")
    page = alex.get(f"/p/{demo.alex}/plan")
    assert page.status_code == 200
    text = text_of(page)
    for expected in (
        "Type 2 diabetes",
        "Rent is hard to cover",
        "Walk 30 minutes a day",
        "Jamie Fox",
    ):
        assert expected in text
