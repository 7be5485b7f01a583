/** @odoo-module **/
// R1 from the interface: schedule an approved plan in the window suggested
// by production's workload.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("deployment_manager_plan_schedule_tour", {
    steps: () => [
        {
            content: "The approved plan",
            trigger: ".o_statusbar_status .o_arrow_button_current[data-value=approved]",
        },
        {
            content: "Its risk and go-live",
            trigger: ".o_notebook .nav-link:contains(Risk & go-live)",
            run: "click",
        },
        {
            content: "Production's workload as a heatmap",
            trigger: ".o_deployment_workload caption:contains(Messages and logins an hour)",
        },
        {
            trigger: ".o_field_widget[name=suggestion_reason]:contains(The quietest)",
        },
        {
            content: "Use the suggested window",
            trigger: "button[name=action_use_suggested_window]",
            run: "click",
        },
        {
            content: "The go-live is set, and said in the chatter",
            trigger: ".o-mail-Message:contains(Go-live set to the suggested window)",
        },
        {
            content: "Schedule",
            trigger: ".o_statusbar_buttons button[name=action_schedule]",
            run: "click",
        },
        {
            content: "Scheduled",
            trigger: ".o_statusbar_status .o_arrow_button_current[data-value=scheduled]",
        },
    ],
});
