/** @odoo-module **/
// An administrator registers this server and its production, runs Discover
// and reads what it found.
import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

registry.category("web_tour.tours").add("deployment_manager_discover_tour", {
    url: "/odoo",
    steps: () => [
        ...stepUtils.goToAppSteps("deployment_manager.menu_deployment_root", "Open Deployment"),
        {
            content: "The app is loaded: its menu has settled",
            trigger: ".o-kanban-button-new",
        },
        {
            content: "Open the hosts",
            trigger: ".o_menu_sections button:contains(Configuration), .o_menu_sections a:contains(Configuration)",
            run: "click",
        },
        {
            trigger: ".dropdown-item:contains(Hosts)",
            run: "click",
        },
        {
            content: "Register a host",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour server",
        },
        {
            content: "It is this very server",
            trigger: '.o_field_widget[name=kind] input[data-value="local"]',
            run: "click",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_saved",
        },
        {
            content: "Go to the environments",
            trigger: ".o_menu_sections a:contains(Environments)",
            run: "click",
        },
        {
            trigger: ".o-kanban-button-new",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour production",
        },
        {
            trigger: ".o_field_widget[name=environment_type] select",
            run: 'select "production"',
        },
        {
            trigger: ".o_field_widget[name=host_id] input",
            run: "edit Tour server",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour server)",
            run: "click",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            trigger: ".o_form_saved",
        },
        {
            content: "Once saved, the new environment offers to discover it",
            trigger: ".o_deployment_discover_offer button[name=action_discover]",
            run: "click",
        },
        {
            content: "The operation runs in the background and its form follows it live",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Done)",
            timeout: 60000,
        },
        {
            content: "Its steps are listed",
            trigger: ".o_field_widget[name=step_ids] td:contains(Read the installed modules)",
        },
        {
            trigger: ".o_field_widget[name=result_summary]:contains(Odoo 18.0)",
        },
        {
            content: "Back to the environment",
            trigger: ".breadcrumb-item a:contains(Tour production)",
            run: "click",
        },
        {
            content: "The snapshot shows the version found",
            trigger: ".o_field_widget[name=odoo_version]:contains(18.0)",
        },
    ],
});
