from __future__ import annotations

import factory
from django.contrib.auth.models import User

from projects.models import Project, Resource, Tag
from projects.services.resources import key_hash


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class ResourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Resource

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"resource-{n}")
    kind = Resource.Kind.TRAINING
    key1_hash = factory.Sequence(lambda n: key_hash(f"key1-{n}"))
    key2_hash = factory.Sequence(lambda n: key_hash(f"key2-{n}"))


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    resource = factory.SubFactory(ResourceFactory, owner=factory.SelfAttribute("..owner"))
    name = factory.Sequence(lambda n: f"Project {n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"tag {n}")
