"""The web pages. Each needs a signed-in browser with one of its roles: without a session the
browser goes to the sign-in page (and back after), with the wrong roles to its own home page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from accounts import Principal
from ui import STATIC_DIR

router = APIRouter(include_in_schema=False)

# page path → (file, roles that may open it); the first page a user may open is their home.
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "/": ("index.html", ("agent", "supervisor")),
    "/trainer": ("trainer.html", ("trainer", "supervisor")),
    "/admin": ("admin.html", ("admin",)),
    "/checklists": ("checklists.html", ("trainer", "supervisor")),
    "/supervisor": ("supervisor.html", ("supervisor", "admin")),
    "/supervisor/alerts": ("alerts.html", ("supervisor", "admin")),
    "/supervisor/analytics": ("analytics.html", ("supervisor",)),
    "/supervisor/calls": ("history.html", ("supervisor",)),
    "/supervisor/calls/{call_id}": ("call.html", ("supervisor",)),
}


def home_of(principal: Principal) -> str | None:
    return next((path for path, (_, roles) in PAGES.items() if principal.has(*roles)), None)


async def _page(request: Request) -> Response:
    principal: Principal | None = request.state.principal
    path = request.url.path
    filename, roles = PAGES[request.scope["route"].path]  # the template: /supervisor/calls/{call_id}
    if principal is None or principal.kind != "user":
        return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)
    if not principal.has(*roles):
        home = home_of(principal)
        if home is None:
            return Response("This account has no page in Rafiq.", status_code=403, media_type="text/plain")
        return RedirectResponse(home, status_code=303)
    return FileResponse(STATIC_DIR / filename, headers={"Cache-Control": "no-store"})


for _path in PAGES:
    router.add_api_route(_path, _page, methods=["GET"], name=f"page:{_path}")


@router.get("/login")
async def login_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-store"})
