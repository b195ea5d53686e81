from django.http import Http404, HttpResponse

from .models import Question


def detail(request, question_id):
    if question_id == 0:
        raise Http404("no such question")
    return HttpResponse(f"question {question_id}")


def vote(request, question_id):
    question = Question.objects.get(pk=question_id)
    question.votes += 1
    question.save()
    return HttpResponse(str(question.votes))
