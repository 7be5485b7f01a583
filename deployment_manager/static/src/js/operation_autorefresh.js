/** @odoo-module **/
// The operation's form: kept live while the operation is queued or running,
// and its durations written as a person reads them.
import { localization } from "@web/core/l10n/localization";
import { registry } from "@web/core/registry";
import { formatFloat } from "@web/views/fields/formatters";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { Component, onWillDestroy, onMounted } from "@odoo/owl";

const ACTIVE_STATES = ["queued", "running"];
const REFRESH_MS = 2000;

// The work happens in a background worker, so the page reloads the record
// every couple of seconds until the operation ends.
export class OperationAutorefresh extends Component {
    static template = "deployment_manager.OperationAutorefresh";
    static props = { ...standardWidgetProps };

    setup() {
        this.timer = null;
        onMounted(() => this.schedule());
        onWillDestroy(() => clearTimeout(this.timer));
    }

    // An operation is live while queued or running; a plan or the
    // deployment-day wizard says so with its own "live" field.
    get active() {
        const data = this.props.record.data;
        return data.live === true || ACTIVE_STATES.includes(data.state);
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

/**
 * Seconds as a person reads them: tenths below a minute ("0.4 s"), then
 * minutes and seconds ("2 min 05 s"), then hours and minutes ("1 h 02 min").
 * Nothing for 0: a step not finished has no duration yet.
 */
export function formatDuration(seconds, { tenths = true } = {}) {
    if (!seconds) {
        return "";
    }
    // Below what would round to a whole minute.
    if (seconds < (tenths ? 59.95 : 59.5)) {
        const shown = tenths
            ? formatFloat(seconds, { digits: [false, 1] })
            : String(Math.round(seconds));
        return `${shown} s`;
    }
    const total = Math.round(seconds);
    const hours = Math.floor(total / 3600);
    const minutes = Math.floor((total % 3600) / 60);
    const pad = (number) => String(number).padStart(2, "0");
    if (hours) {
        return `${hours} h ${pad(minutes)} min`;
    }
    return `${minutes} min ${pad(total % 60)} s`;
}

export class DurationField extends Component {
    static template = "deployment_manager.FormattedValue";
    static props = {
        ...standardFieldProps,
        tenths: { type: Boolean, optional: true },
    };
    static defaultProps = { tenths: true };

    get formatted() {
        return formatDuration(this.props.record.data[this.props.name], {
            tenths: this.props.tenths,
        });
    }
}

// Read-only seconds; options="{'tenths': false}" for times kept to the
// second (an operation's start and end).
registry.category("fields").add("deployment_duration", {
    component: DurationField,
    supportedTypes: ["float"],
    extractProps: ({ options }) => ({ tenths: options.tenths !== false }),
});

/**
 * A time of day to the tenth of a second ("14:03:21.4"), in the browser's
 * time zone as every date of the web client, from seconds since 1970 (UTC).
 */
export function formatTimeOfDay(seconds) {
    if (!seconds) {
        return "";
    }
    const time = luxon.DateTime.fromMillis(Math.round(seconds * 1000));
    const tenths = Math.floor(time.millisecond / 100);
    return `${time.toFormat("HH:mm:ss")}${localization.decimalPoint}${tenths}`;
}

export class TimeOfDayField extends Component {
    static template = "deployment_manager.FormattedValue";
    static props = { ...standardFieldProps };

    get formatted() {
        return formatTimeOfDay(this.props.record.data[this.props.name]);
    }
}

// A step's start (started_at_seconds): Datetime fields reach the web client
// without their fraction of a second.
registry.category("fields").add("deployment_time_of_day", {
    component: TimeOfDayField,
    supportedTypes: ["float"],
});
