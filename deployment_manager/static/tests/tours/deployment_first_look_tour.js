/** @odoo-module **/
// What a newcomer sees first: on a development environment, three buttons
// and the other operations grouped in the procedure's order; Discover offered
// while it was never discovered; durations in tenths of a second; then the
// same header on production, with only what applies there.
import { registry } from "@web/core/registry";

// The buttons shown (the header also holds copies for small screens).
function names(selector) {
    return [...document.querySelectorAll(selector)]
        .filter((button) => button.offsetParent)
        .map((button) => button.name)
        .join(", ");
}

function expectNames(selector, expected) {
    const found = names(selector);
    if (found !== expected.join(", ")) {
        throw new Error(`${selector}: expected ${expected.join(", ")}, found ${found}`);
    }
}

const HEADER = ".o_form_statusbar .o_statusbar_buttons > button";
const MORE = ".o_deployment_more .dropdown-menu button";

registry.category("web_tour.tours").add("deployment_manager_first_look_tour", {
    steps: () => [
        {
            content: "Three buttons: read the environment, back it up, deploy",
            trigger: ".o_form_statusbar button[name=action_deploy]",
            run() {
                expectNames(HEADER, ["action_discover", "action_backup", "action_deploy"]);
            },
        },
        {
            content: "A never discovered environment is offered Discover",
            trigger: ".o_deployment_discover_offer button[name=action_discover]",
        },
        {
            content: "The other operations are grouped",
            trigger: ".o_deployment_more .dropdown-toggle:contains(More)",
            run: "click",
        },
        {
            content: "From production first, then tests, the log check and the services",
            trigger: ".o_deployment_more .dropdown-menu.show .dropdown-header:contains(From production)",
            run() {
                expectNames(MORE, [
                    "action_replicate",
                    "action_drift_report",
                    "action_apply_configuration",
                    "action_align_modules",
                    "action_run_module_tests",
                    "action_check_log",
                    "action_service_status",
                ]);
            },
        },
        {
            trigger: ".o_deployment_more .dropdown-menu.show button:contains(Apply production's configuration)",
        },
        {
            content: "Close the group",
            trigger: ".o_deployment_more .dropdown-toggle",
            run: "click",
        },
        {
            trigger: ".o_deployment_more .dropdown-toggle[aria-expanded=false]",
        },
        {
            content: "Its operations",
            trigger: "button[name=action_view_operations]",
            run: "click",
        },
        {
            trigger: ".o_data_row td[name=name]:contains(OP/)",
            run: "click",
        },
        {
            content: "A step of 0.4 s, started at a tenth of a second",
            trigger: ".o_field_widget[name=step_ids] tr:contains(Dump the database) td[name=duration]:contains(0.4 s)",
        },
        {
            trigger: ".o_field_widget[name=step_ids] tr:contains(Dump the database) td[name=started_at_seconds]:contains(:05.2)",
        },
        {
            trigger: ".o_notebook a.nav-link:contains(Commands)",
            run: "click",
        },
        {
            content: "A command of more than a minute",
            trigger: ".o_field_widget[name=command_ids] td[name=duration]:contains(2 min 05 s)",
        },
        {
            content: "Production's header",
            trigger: ".o_menu_sections a:contains(Environments)",
            run: "click",
        },
        {
            trigger: ".o_kanban_record:contains(Tour production) .fw-bold",
            run: "click",
        },
        {
            trigger: ".o_breadcrumb:contains(Tour production)",
        },
        {
            trigger: ".o_deployment_more .dropdown-toggle",
            run: "click",
        },
        {
            content: "On production, nothing comes from production and no test runs",
            trigger: ".o_deployment_more .dropdown-menu.show button[name=action_service_status]",
            run() {
                expectNames(HEADER, ["action_discover", "action_backup", "action_deploy"]);
                expectNames(MORE, ["action_check_log", "action_service_status"]);
                if (document.querySelector(".o_deployment_more .dropdown-header")) {
                    throw new Error("production shows the operations from production");
                }
            },
        },
    ],
});
