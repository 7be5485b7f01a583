/** @odoo-module **/
// A deployment queued for a set time: the operation waits "Not before" that
// time, the environment stays free, and a manager cancels it.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("deployment_manager_scheduled_deploy_tour", {
    steps: () => [
        {
            content: "Deploy on the production environment",
            trigger: "button[name=action_deploy]",
            run: "click",
        },
        {
            trigger: '.modal .o_field_widget[name=source_kind] input[data-value="git"]',
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=git_ref] input",
            run: "edit v1",
        },
        {
            trigger: ".modal .o_field_widget[name=install_modules] input",
            run: "edit dm_sample_good",
        },
        {
            content: "Not before the night of the go-live",
            trigger: ".modal .o_field_widget[name=start_at] input",
            run: "edit 12/31/2099 02:00:00",
        },
        {
            content: "Leave the date field: the value is taken",
            trigger: ".modal .o_field_widget[name=install_modules] input",
            run: "click",
        },
        {
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The operation waits in the queue until its time",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Queued)",
        },
        {
            trigger: ".o_field_widget[name=scheduled_at]:contains(12/31/2099 02:00:00)",
        },
        {
            content: "Changed our mind: cancel it",
            trigger: ".o_form_statusbar button[name=action_cancel]",
            run: "click",
        },
        {
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Cancelled)",
        },
    ],
});
