/** @odoo-module **/
// Deployment plans from the interface: create a plan and run a step of its
// development checklist for real; walk the deployment-day wizard to the end.
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

const CHECKLIST = ".o_field_widget[name=current_item_ids]";
const DAY = ".modal .o_deployment_day_wizard";
const STEPS = `${DAY} .o_field_widget[name=item_ids]`;

registry.category("web_tour.tours").add("deployment_manager_plan_tour", {
    steps: () => [
        ...stepUtils.goToAppSteps("deployment_manager.menu_deployment_root", "Open Deployment"),
        {
            content: "Plans is the app's first menu",
            trigger: ".o_menu_sections a:contains(Plans)",
            run: "click",
        },
        {
            content: "The plans, by state",
            trigger: ".o_deployment_plan_kanban .o_kanban_group",
        },
        {
            trigger: ".o-kanban-button-new",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=title] input",
            run: "edit Tour plan",
        },
        {
            trigger: ".o_field_widget[name=production_id] input",
            run: "edit Tour production",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour production)",
            run: "click",
        },
        {
            content: "The development environment comes from the landscape",
            trigger: ".o_field_widget[name=development_id] input:value(Tour development)",
        },
        {
            trigger: ".o_notebook .nav-link:contains(Modules)",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=module_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=module_ids] .o_data_row .o_field_widget[name=name] input",
            run: "edit dm_tour_module",
        },
        {
            trigger: ".o_field_widget[name=git_url] input",
            run: "edit git@git.example.com:acme/addons.git",
        },
        {
            trigger: ".o_field_widget[name=git_ref] input",
            run: "edit 18.0",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_saved",
        },
        {
            trigger: ".o_form_statusbar button[name=action_start_development]",
            run: "click",
        },
        {
            content: "Development's checklist: the procedure's D1-D5",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Development)",
        },
        {
            trigger: ".o_notebook .nav-link:contains(Checklist)",
            run: "click",
        },
        {
            content: "Run D2: production's configuration applied to development",
            trigger: `${CHECKLIST} .o_data_row:has(td:contains(D2)) button[name=action_run]`,
            run: "click",
        },
        {
            content: "The operation runs in the background",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Done)",
            timeout: 60000,
        },
        {
            trigger: ".breadcrumb-item a:contains(Tour plan)",
            run: "click",
        },
        {
            content: "The item ended with its operation",
            trigger: `${CHECKLIST} .o_data_row:has(td:contains(D2)) td[name=state]:contains(Done)`,
        },
        {
            content: "The other items are still to do",
            trigger: `${CHECKLIST} .o_data_row:has(td:contains(D1)) td[name=state]:contains(To do)`,
        },
    ],
});

registry.category("web_tour.tours").add("deployment_manager_deployment_day_tour", {
    steps: () => [
        {
            trigger: ".o_form_statusbar button[name=action_open_deployment_day]",
            run: "click",
        },
        {
            trigger: ".modal-footer button[name=action_start]",
            run: "click",
        },
        {
            content: "Users warned and logged off",
            trigger: `${DAY} .o_field_widget[name=step_number]:contains(Step 1 of 7)`,
        },
        {
            trigger: `${DAY} .o_field_widget[name=comment] textarea`,
            run: "edit Everybody logged off",
        },
        {
            trigger: ".modal-footer button[name=action_confirm_step]",
            run: "click",
        },
        {
            content: "J2: production's external resources are listed",
            trigger: `${DAY} .o_field_widget[name=step_number]:contains(Step 2 of 7)`,
        },
        {
            trigger: ".modal-footer button[name=action_confirm_step]",
            run: "click",
        },
        {
            content: "J1: the backup, first of the automated steps",
            trigger: `${DAY} .o_field_widget[name=step_number]:contains(Step 3 of 7)`,
        },
        {
            content: "Backup, deployment, services and log check queued as one chain",
            trigger: ".modal-footer button[name=action_run_step]",
            run: "click",
        },
        {
            trigger: `${STEPS} .o_data_row:has(td:contains(J1)) td[name=state]:contains(Done)`,
            timeout: 60000,
        },
        {
            trigger: `${STEPS} .o_data_row:has(td:contains(J3)) td[name=state]:contains(Done)`,
            timeout: 60000,
        },
        {
            trigger: `${STEPS} .o_data_row:has(td:contains(J4)) td[name=state]:contains(Done)`,
            timeout: 60000,
        },
        {
            trigger: `${STEPS} .o_data_row:has(td:contains(J5)) td[name=state]:contains(Done)`,
            timeout: 60000,
        },
        {
            content: "The key user's smoke test",
            trigger: `${DAY} .o_field_widget[name=step_number]:contains(Step 7 of 7)`,
            timeout: 20000,
        },
        {
            trigger: ".modal-footer button[name=action_confirm_step]",
            run: "click",
        },
        {
            content: "Deployed, with production's downtime",
            trigger: `${DAY} .o_deployment_day_succeeded .o_field_widget[name=downtime]:contains(s)`,
        },
        {
            trigger: ".modal-footer button:contains(Close)",
            run: "click",
        },
        {
            content: "The plan is in hypercare",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Hypercare)",
        },
    ],
});
