from django.db import models
from pyrometer_django.models import ExportModelOperationsMixin


class Question(ExportModelOperationsMixin("question"), models.Model):
    text = models.CharField(max_length=200)
    votes = models.IntegerField(default=0)


class Choice(ExportModelOperationsMixin("choice"), models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE)
    text = models.CharField(max_length=200)
