/** @odoo-module **/
// Deployment day from the interface: deploy a module from a git tag into
// production and watch the steps of the run complete.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("deployment_manager_deploy_tour", {
    steps: () => [
        {
            content: "Deploy on the production environment",
            trigger: "button[name=action_deploy]",
            run: "click",
        },
        {
            content: "The sources come from a git repository",
            trigger: '.modal .o_field_widget[name=source_kind] input[data-value="git"]',
            run: "click",
        },
        {
            content: "The repository (a default of this test) is proposed",
            trigger: ".modal .o_field_widget[name=git_url] input",
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
            content: "No backup in this test: the run is about the deployment",
            trigger: ".modal .o_field_widget[name=take_backup] input",
            run: "click",
        },
        {
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The deployment runs in the background and its steps show live",
            trigger: ".o_field_widget[name=step_ids] td:contains(Install and upgrade the modules)",
            timeout: 60000,
        },
        {
            trigger: ".o_field_widget[name=step_ids] td:contains(Wait for health)",
            timeout: 60000,
        },
        {
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Done)",
            timeout: 60000,
        },
        {
            trigger: ".o_field_widget[name=result_summary]:contains(dm_sample_good 18.0.1.0.0)",
        },
    ],
});
