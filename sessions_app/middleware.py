"""Set the current company for each web request: the user's choice, if they may work there."""

from .access import companies_for
from .companies import current_company, use_company

SESSION_KEY = "sessions_app_company"


def company_for_request(request):
    """Return the company chosen in this browser session if the user may use it, else their first one."""
    user = getattr(request, "user", None)
    allowed = companies_for(user)
    name = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    for company in allowed:
        if company.name == name:
            return company
    return allowed[0] if allowed else None


class CurrentCompanyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        company = company_for_request(request)
        request.company = company
        with use_company(company):
            return self.get_response(request)


def current_company_context(request):
    return {
        "current_company": current_company(),
        "user_companies": companies_for(getattr(request, "user", None)),
    }
