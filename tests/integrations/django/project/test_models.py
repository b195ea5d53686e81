"""ExportModelOperationsMixin: inserts, updates and deletes by model."""

import pytest
from helpers import value
from polls.models import Choice, Question


def _counts(model):
    return tuple(value(f"django_model_{op}_total", {"model": model}) for op in ("inserts", "updates", "deletes"))


@pytest.mark.django_db
def test_insert_update_delete():
    """create counts an insert, save of a stored row an update, delete a delete."""
    inserts, updates, deletes = _counts("question")
    question = Question.objects.create(text="first?")
    question.votes = 3
    question.save()
    question.save()
    question.delete()
    assert _counts("question") == (inserts + 1, updates + 2, deletes + 1)


@pytest.mark.django_db
def test_save_with_new_pk_is_one_insert():
    """save() with an explicit primary key not yet stored is one insert and no update."""
    inserts, updates, _ = _counts("question")
    Question(pk=4242, text="explicit").save()
    assert _counts("question")[:2] == (inserts + 1, updates)


@pytest.mark.django_db
def test_view_saving_a_model():
    """A view updating a model through the ORM counts the update."""
    from django.test import Client

    question = Question.objects.create(text="vote?")
    _, updates, _ = _counts("question")
    assert Client().post(f"/polls/{question.pk}/vote/").content == b"1"
    assert _counts("question")[1] == updates + 1


def test_series_exist_before_any_operation():
    """The model's series are created at zero when the model class is defined."""
    assert Choice._meta.model_name == "choice"
    assert value("django_model_inserts_total", {"model": "choice"}) == 0
    from pyrometer.registry import REGISTRY
    assert REGISTRY.get_sample_value("django_model_deletes_total", {"model": "choice"}) == 0.0
