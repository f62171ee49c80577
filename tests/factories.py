"""factory-boy factories for every CRM record and configuration (shared personas)."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from lightningsync.models import (
    Account,
    Contact,
    Event,
    Lead,
    Profile,
    SyncConfiguration,
    User,
)


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Profile {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_active = True
    password = factory.django.Password("pw")

    @factory.post_generation
    def groups(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))


class StaffUserFactory(UserFactory):
    is_staff = True


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n} Inc.")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    owner = factory.SubFactory(UserFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@customer.example")
    account = factory.SubFactory(AccountFactory)
    title = "Buyer"


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    owner = factory.SubFactory(UserFactory)
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"lead{n}@prospect.example")
    company = factory.Sequence(lambda n: f"Prospect {n} Ltd")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    owner = factory.SubFactory(UserFactory)
    subject = factory.Sequence(lambda n: f"Meeting {n}")
    start = factory.LazyFunction(
        lambda: timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    )
    end = factory.LazyAttribute(lambda e: e.start + dt.timedelta(hours=1))


class SyncConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncConfiguration
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Configuration {n}")
    active = True

    @factory.post_generation
    def users(self, create: bool, extracted: list[User] | None, **kwargs: object) -> None:
        if create and extracted:
            for user in extracted:
                SyncConfiguration.users.through.objects.update_or_create(
                    user=user, defaults={"configuration": self}
                )

    @factory.post_generation
    def profiles(self, create: bool, extracted: list[Profile] | None, **kwargs: object) -> None:
        if create and extracted:
            for profile in extracted:
                SyncConfiguration.profiles.through.objects.create(
                    profile=profile, configuration=self
                )
