from common.celery_app import make_celery

app = make_celery("common-tests", default_queue="common_tests")
