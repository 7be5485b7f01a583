# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The page a key user without an account here answers on (S4): reached by
their personal link, no login; "all fine" or "I found a problem"."""

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

from ..models.deployment_key_user_invitation import SEVERITIES

PAGE = "deployment_manager.acceptance_page"


class AcceptanceController(http.Controller):
    @http.route(
        "/deployment_manager/acceptance/<string:token>",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        sitemap=False,
    )
    def acceptance(self, token, **post):
        """GET: the invitation and the two answers. POST (with Odoo's CSRF
        token, checked by the route): the answer is recorded."""
        invitation = request.env["deployment.key.user.invitation"]._from_token(token)
        if not invitation:
            # Unknown or altered: nothing tells whether an invitation exists.
            return self._page(
                None, status=404, refusal=request.env._("This link is not valid.")
            )
        lang = invitation.lang or "en_US"
        invitation = invitation.with_context(lang=lang)
        if not invitation._accepts_answers():
            return self._page(invitation, status=403, refusal=invitation._refusal())
        if request.httprequest.method != "POST":
            return self._page(invitation)
        answer = post.get("answer")
        upload = request.httprequest.files.get("screenshot")
        screenshot = None
        if upload and upload.filename:
            if not (upload.mimetype or "").startswith("image/"):
                return self._page(
                    invitation,
                    status=400,
                    error=invitation.env._("The screenshot must be an image."),
                    post=post,
                )
            screenshot = (upload.filename, upload.read())
        try:
            # Refused: nothing of the answer is kept.
            with request.env.cr.savepoint():
                invitation._record_answer(
                    "fine" if answer == "fine" else "problem",
                    description=post.get("description"),
                    severity=post.get("severity") or "minor",
                    screenshot=screenshot,
                )
        except UserError as error:
            return self._page(invitation, status=400, error=str(error), post=post)
        return self._page(invitation, done=answer)

    def _page(self, invitation, status=200, **values):
        lang = invitation.lang if invitation else "en_US"
        if invitation:
            invitation = invitation.with_context(lang=lang)
            values["greeting"] = invitation.env._("Hello %s,", invitation.name)
            values["intro"] = invitation.env._(
                "You are trying %(plan)s on pre-production for %(app)s.",
                plan=invitation.plan_title,
                app=invitation.module_title or invitation.module,
            )
        html = (
            request.env["ir.qweb"]
            .with_context(lang=lang)
            ._render(
                PAGE,
                {
                    "invitation": invitation,
                    "severities": SEVERITIES,
                    "post": values.pop("post", {}),
                    "html_lang": (lang or "en_US").replace("_", "-"),
                    **values,
                },
            )
        )
        return request.make_response(
            f"<!DOCTYPE html>\n{html}",
            headers=[
                ("Content-Type", "text/html; charset=utf-8"),
                # A personal page: never cached, never framed.
                ("Cache-Control", "no-store"),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "no-referrer"),
            ],
            status=status,
        )
