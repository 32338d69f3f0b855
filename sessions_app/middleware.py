"""Set the current company for each web request, from the user's session."""

from .companies import all_companies, current_company, get_company, use_company
from .exceptions import UnknownCompany

SESSION_KEY = "sessions_app_company"


def company_for_request(request):
    """Return the company chosen in this browser session, else the first company."""
    name = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if name:
        try:
            return get_company(name)
        except UnknownCompany:
            pass
    companies = all_companies()
    return companies[0] if companies else None


class CurrentCompanyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        company = company_for_request(request)
        request.company = company
        with use_company(company):
            return self.get_response(request)


def current_company_context(request):
    return {"current_company": current_company(), "companies": all_companies()}
