# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import posixpath

from werkzeug.exceptions import Forbidden, NotFound

from odoo import http
from odoo.http import request

from ..models.deployment_host import MANAGER_GROUP
from ..remote import validate_path

CHUNK = 1 << 20


class DeploymentController(http.Controller):
    @http.route(
        "/deployment_manager/backup/<int:backup_id>/download", type="http", auth="user"
    )
    def download_backup(self, backup_id):
        """Stream a backup bundle from its host as a tar archive, through the manager.

        The archive is made on the host while it is sent: nothing is staged on
        the manager's disk, and the request lasts as long as the download does.
        """
        if not request.env.user.has_group(MANAGER_GROUP):
            raise Forbidden()
        backup = request.env["deployment.backup"].browse(backup_id).exists()
        # Another company's backup is as good as absent.
        if not backup or not backup.has_access("read"):
            raise NotFound()
        if backup.state not in ("verified", "corrupt"):
            raise NotFound()
        bundle_dir = validate_path(backup.sudo().bundle_dir)
        parent, name = posixpath.split(bundle_dir)
        transport = backup.environment_id.host_id._open_transport()
        command = transport.start(["tar", "-C", parent, "-cf", "-", "--", name])
        closed = []

        def close():
            """Once, whether the body was read to the end, in part or never."""
            if closed:
                return
            closed.append(True)
            try:
                # A group id is reused once its processes are gone: signal
                # the tar's group only while the tar still runs.
                if not command.exited():
                    command.kill()
            finally:
                transport.close()

        def stream():
            try:
                while chunk := command.stdout_read(CHUNK):
                    yield chunk
                command.wait(timeout=60)
            finally:
                close()

        response = request.make_response(
            stream(),
            headers=[
                ("Content-Type", "application/x-tar"),
                ("Content-Disposition", f'attachment; filename="{name}.tar"'),
            ],
        )
        # The server closes the response even when the client went away
        # before the first byte: the generator alone would never run then.
        response.call_on_close(close)
        return response
