/** @odoo-module **/
// D4, D5 from the interface: run the new module's tests from the
// development environment, read the results, and record a test done by hand.
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("deployment_manager_module_tests_tour", {
    steps: () => [
        {
            content: "Running tests is among the other operations of the header",
            trigger: ".o_deployment_more .dropdown-toggle",
            run: "click",
        },
        {
            content: "Run a module's tests on the development environment",
            trigger: ".o_deployment_more .dropdown-menu.show button[name=action_run_module_tests]",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=module] input",
            run: "edit dm_sample_tested",
        },
        {
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The operation runs in the background; its form follows it",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Done)",
            timeout: 60000,
        },
        {
            trigger: ".o_field_widget[name=result_summary]:contains(1 passed, 1 failed)",
        },
        {
            content: "Back to the environment",
            trigger: ".breadcrumb-item a:contains(Tour development)",
            run: "click",
        },
        {
            content: "Its test runs",
            trigger: "button[name=action_view_test_runs]",
            run: "click",
        },
        {
            trigger: ".o_data_row td[name=module]:contains(dm_sample_tested)",
            run: "click",
        },
        {
            content: "Each test with its status",
            trigger: ".o_field_widget[name=line_ids] tr:contains(test_fails_on_purpose):contains(Failed)",
        },
        {
            trigger: ".o_field_widget[name=line_ids] tr:contains(test_partner_is_created):contains(Passed)",
        },
        {
            content: "Record a test done by hand",
            trigger: ".o_menu_sections button:contains(Test documentation), .o_menu_sections a:contains(Test documentation)",
            run: "click",
        },
        {
            trigger: ".dropdown-item:contains(Manual test cases)",
            run: "click",
        },
        {
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=name] input",
            run: "edit Create a partner by hand",
        },
        {
            trigger: ".o_field_widget[name=module] input",
            run: "edit dm_sample_tested",
        },
        {
            trigger: ".o_field_widget[name=environment_id] input",
            run: "edit Tour development",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains(Tour development)",
            run: "click",
        },
        {
            trigger: ".o_field_widget[name=steps] textarea",
            run: "edit Contacts, New, type a name, Save",
        },
        {
            trigger: ".o_field_widget[name=expected] textarea",
            run: "edit The partner is listed",
        },
        {
            trigger: ".o_field_widget[name=observed] textarea",
            run: "edit Listed at once",
        },
        {
            content: "It passed",
            trigger: ".o_statusbar_status button[data-value=passed]",
            run: "click",
        },
        {
            content: "Choosing the result saves the test case",
            trigger: ".o_statusbar_status .o_arrow_button_current[data-value=passed]",
        },
        {
            trigger: ".o_form_saved",
        },
    ],
});
