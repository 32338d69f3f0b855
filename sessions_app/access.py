"""Which companies a user may work in: a per-user list, managed in the admin."""

from django.contrib.auth import get_user_model

from .companies import Company, all_companies


def companies_for(user) -> list[Company]:
    """Return the companies ``user`` may work in, in settings order (superusers: all)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    companies = all_companies()
    if user.is_superuser:
        return companies
    cache = getattr(user, "_sessions_company_names", None)
    if cache is None:
        from .models import CompanyAccess

        cache = set(CompanyAccess.objects.filter(user=user).values_list("company", flat=True))
        user._sessions_company_names = cache
    return [c for c in companies if c.name in cache]


def can_access(user, company: "Company | str") -> bool:
    name = company.name if isinstance(company, Company) else company
    return any(c.name == name for c in companies_for(user))


def visible_company_filter(user) -> dict:
    """Return queryset filter kwargs limiting sessions to ``user``'s companies (none when they see all)."""
    allowed = [c.name for c in companies_for(user)]
    if len(allowed) == len(all_companies()):
        return {}
    return {"company__in": allowed}


def load_user(user_id):
    """The user with this id, or ``None`` (no id, or the user was deleted since)."""
    if user_id is None:
        return None
    return get_user_model().objects.filter(pk=user_id).first()
