"""A customer's website for the browser test: Tandem's URLs plus two pages that carry the snippet."""

from django.http import HttpResponse
from django.urls import include, path
from django.utils.html import escape

from tandem.engagement.selectors import snippet_html

PAGE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,"><title>{title}</title>{snippet}</head>
<body><h1>{title}</h1>{body}</body></html>"""

FORM = """<form id="demo-request" method="get" action="/site/thanks/">
<label>Work email <input type="email" id="work-email" name="work_email"></label>
<button type="submit" id="send">Request a demo</button></form>"""


def landing(request):
    snippet = snippet_html(key=request.GET.get("key", ""), base_url=request.build_absolute_uri("/"))
    return HttpResponse(PAGE.format(title="Acme analytics", snippet=snippet, body=FORM))


def thanks(request):
    return HttpResponse(
        PAGE.format(title="Thanks", snippet="", body=f"<p>{escape(request.GET.get('work_email', ''))}</p>")
    )


urlpatterns = [
    path("site/landing/", landing),
    path("site/thanks/", thanks),
    path("", include("tandem.urls")),
]
