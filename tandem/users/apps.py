from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "tandem.users"
    label = "users"
