"""The Django test project runs in its own pytest process (see test_django.py), never in this one."""

collect_ignore = ["project"]
