# Copyright 2026 deployment_manager contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
{
    "name": "Deployment Manager",
    "summary": "Put new modules into production the safe way: environments, "
    "hosts and journaled operations over SSH, from inside Odoo",
    "version": "18.0.1.0.0",
    "category": "Tools",
    "website": "https://github.com/deployment-manager/deployment_manager",
    "author": "deployment_manager contributors",
    "license": "AGPL-3",
    "application": True,
    "installable": True,
    "depends": ["mail", "base_automation"],
    "external_dependencies": {"python": ["paramiko"]},
    "data": [
        "security/deployment_security.xml",
        "security/ir.model.access.csv",
        "data/ir_sequence_data.xml",
        "data/mail_message_subtype_data.xml",
        "data/ir_cron_data.xml",
        "data/ir_actions_server_data.xml",
        "data/deployment_plan_data.xml",
        "data/deployment_checklist_data.xml",
        "views/deployment_operation_views.xml",
        "views/deployment_host_views.xml",
        "views/deployment_environment_views.xml",
        "views/deployment_backup_views.xml",
        "wizards/deployment_restore_wizard_views.xml",
        "wizards/deployment_run_wizard_views.xml",
        "views/deployment_test_views.xml",
        "report/deployment_test_run_report.xml",
        "views/ir_actions_server_views.xml",
        "views/deployment_checklist_views.xml",
        "views/deployment_plan_views.xml",
        "views/deployment_environment_plan_views.xml",
        "wizards/deployment_plan_wizard_views.xml",
        "views/deployment_menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "deployment_manager/static/src/js/operation_autorefresh.js",
            "deployment_manager/static/src/xml/operation_autorefresh.xml",
        ],
        "web.assets_tests": [
            "deployment_manager/static/tests/tours/*.js",
        ],
    },
}
