/** @odoo-module **/
// Keeps an operation's form live while it is queued or running: the work
// happens in a background worker, so the page reloads the record every
// couple of seconds until the operation ends.
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { Component, onWillDestroy, onMounted } from "@odoo/owl";

const ACTIVE_STATES = ["queued", "running"];
const REFRESH_MS = 2000;

export class OperationAutorefresh extends Component {
    static template = "deployment_manager.OperationAutorefresh";
    static props = { ...standardWidgetProps };

    setup() {
        this.timer = null;
        onMounted(() => this.schedule());
        onWillDestroy(() => clearTimeout(this.timer));
    }

    get active() {
        return ACTIVE_STATES.includes(this.props.record.data.state);
    }

    schedule() {
        clearTimeout(this.timer);
        if (!this.active) {
            return;
        }
        this.timer = setTimeout(async () => {
            const record = this.props.record;
            if (record.isInEdition && record.dirty) {
                this.schedule();
                return;
            }
            await record.load();
            this.schedule();
        }, REFRESH_MS);
    }
}

registry.category("view_widgets").add("deployment_operation_autorefresh", {
    component: OperationAutorefresh,
});
