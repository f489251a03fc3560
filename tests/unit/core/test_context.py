from tvilling.core.context import Context
from tvilling.core.roles import Role


def test_child_context_links_to_parent() -> None:
    root = Context.new(actor="sensor")
    child = root.child(actor="detector")
    assert child.parent_id == root.id
    assert child.id != root.id
    assert child.actor == "detector"


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert Role.ENGINEER.allows(Role.OPERATOR)
