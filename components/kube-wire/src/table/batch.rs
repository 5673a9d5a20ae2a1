//! Printers of the `batch` group: jobs and cron jobs.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::format::{self, Count, LabelSelector, PodTemplate, nullable};
use super::{AGE, NAME, Printer, Row, column, parse, wide};

/// The printers of this module, by group and resource.
pub(super) const PRINTERS: &[(&str, &str, &Printer)] =
    &[("batch", "jobs", &JOB), ("batch", "cronjobs", &CRON_JOB)];

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";
const SELECTOR: &str = "A label query over pods that should match the pod count.";

#[derive(Deserialize, Default)]
#[serde(default)]
struct Job {
    metadata: Option<Box<RawValue>>,
    spec: JobSpec,
    status: JobStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JobSpec {
    completions: Option<i64>,
    parallelism: Option<i64>,
    selector: Option<LabelSelector>,
    template: PodTemplate,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JobStatus {
    succeeded: i64,
    start_time: Option<String>,
    completion_time: Option<String>,
    #[serde(deserialize_with = "nullable")]
    conditions: Vec<JobCondition>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JobCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

static JOB: Printer = Printer {
    columns: &[
        NAME,
        column("Status", "string", "Status of the job."),
        column(
            "Completions",
            "string",
            "The number of pods which reached phase Succeeded.",
        ),
        column("Duration", "string", "Time required to complete the job."),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
        wide("Selector", "string", SELECTOR),
    ],
    print: |object, context| {
        let mut job: Job = parse(object)?;
        let metadata = job.metadata.take();
        let (spec, status) = (&job.spec, &job.status);
        let completions = match spec.completions {
            Some(completions) => format!("{}/{completions}", status.succeeded),
            None => match spec.parallelism.unwrap_or(0) {
                parallelism if parallelism > 1 => {
                    format!("{}/1 of {parallelism}", status.succeeded)
                }
                _ => format!("{}/1", status.succeeded),
            },
        };
        let start = format::time(status.start_time.as_deref());
        let end = format::time(status.completion_time.as_deref());
        let duration = match (start, end) {
            (None, _) => String::new(),
            (Some(start), None) => crate::time::human_duration(context.now - start),
            (Some(start), Some(end)) => crate::time::human_duration(end - start),
        };
        let condition = |kind: &str| {
            status
                .conditions
                .iter()
                .find(|c| c.kind == kind)
                .is_some_and(|c| c.status == "True")
        };
        let state = if condition("Complete") {
            "Complete"
        } else if condition("Failed") {
            "Failed"
        } else if object.deletion_timestamp.is_some() {
            "Terminating"
        } else if condition("Suspended") {
            "Suspended"
        } else if condition("FailureTarget") {
            "FailureTarget"
        } else {
            "Running"
        };
        let (names, images) = format::containers(&spec.template.spec.containers);
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                state.into(),
                completions.into(),
                duration.into(),
                format::since(object.creation_timestamp, context.now).into(),
                names.into(),
                images.into(),
                format::label_selector(spec.selector.as_ref()).into(),
            ],
        ))
    },
};

#[derive(Deserialize, Default)]
#[serde(default)]
struct CronJob {
    metadata: Option<Box<RawValue>>,
    spec: CronJobSpec,
    status: CronJobStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CronJobSpec {
    #[serde(deserialize_with = "nullable")]
    schedule: String,
    time_zone: Option<String>,
    suspend: Option<bool>,
    job_template: JobTemplate,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JobTemplate {
    spec: JobSpec,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CronJobStatus {
    active: Count,
    last_schedule_time: Option<String>,
}

static CRON_JOB: Printer = Printer {
    columns: &[
        NAME,
        column("Schedule", "string", "The schedule in Cron format."),
        column(
            "Timezone",
            "string",
            "The time zone name for the given schedule.",
        ),
        column(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions.",
        ),
        column(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        column(
            "Last Schedule",
            "string",
            "Information when was the last time the job was successfully scheduled.",
        ),
        AGE,
        wide("Containers", "string", CONTAINERS),
        wide("Images", "string", IMAGES),
        wide("Selector", "string", SELECTOR),
    ],
    print: |object, context| {
        let mut cron: CronJob = parse(object)?;
        let metadata = cron.metadata.take();
        let (spec, status) = (&cron.spec, &cron.status);
        let last_schedule = match format::time(status.last_schedule_time.as_deref()) {
            Some(time) => format::since(Some(time), context.now),
            None => "<none>".into(),
        };
        let suspend = match spec.suspend {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let job = &spec.job_template.spec;
        let (names, images) = format::containers(&job.template.spec.containers);
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                spec.schedule.as_str().into(),
                spec.time_zone.as_deref().unwrap_or("<none>").into(),
                suspend.into(),
                status.active.0.into(),
                last_schedule.into(),
                format::since(object.creation_timestamp, context.now).into(),
                names.into(),
                images.into(),
                format::label_selector(job.selector.as_ref()).into(),
            ],
        ))
    },
};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Cell;
    use super::super::tests::{cells, s};

    #[test]
    fn job_columns() {
        let job = |spec: serde_json::Value, status: serde_json::Value| {
            cells(
                ("batch", "v1", "jobs"),
                json!({"kind": "Job", "metadata": {"name": "j", "creationTimestamp": "2024-03-01T09:00:00Z"}, "spec": spec, "status": status}),
            )
        };
        let done = job(
            json!({"completions": 3, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}),
            json!({"succeeded": 3, "startTime": "2024-03-01T09:00:00Z", "completionTime": "2024-03-01T09:01:30Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(
            done[..5],
            [s("j"), s("Complete"), s("3/3"), s("90s"), s("60m")]
        );
        let running = job(
            json!({"parallelism": 4}),
            json!({"succeeded": 1, "startTime": "2024-03-01T09:30:00Z"}),
        );
        assert_eq!(running[1..4], [s("Running"), s("1/1 of 4"), s("30m")]);
        assert_eq!(
            job(json!({}), json!({}))[1..4],
            [s("Running"), s("0/1"), s("")]
        );
    }

    #[test]
    fn cron_job_columns() {
        let cells = cells(
            ("batch", "v1", "cronjobs"),
            json!({"kind": "CronJob", "metadata": {"name": "nightly", "creationTimestamp": "2024-03-01T09:00:00Z"},
                   "spec": {"schedule": "0 2 * * *", "suspend": false,
                            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
                   "status": {"active": [{"name": "a"}], "lastScheduleTime": "2024-03-01T09:58:00Z"}}),
        );
        assert_eq!(
            cells,
            [
                s("nightly"),
                s("0 2 * * *"),
                s("<none>"),
                s("False"),
                Cell::Int(1),
                s("2m"),
                s("60m"),
                s("c"),
                s("i"),
                s("<none>")
            ]
        );
    }
}
