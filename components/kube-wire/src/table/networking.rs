//! Printers of networking kinds: ingresses (`networking.k8s.io`, `extensions`) and endpoint
//! slices (`discovery.k8s.io`).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::core_v1::LoadBalancerStatus;
use super::format::{self, nullable};
use super::{AGE, NAME, Printer, Row, column};

/// The printers of this module, by group and resource.
pub(super) const PRINTERS: &[(&str, &str, &Printer)] = &[
    ("networking.k8s.io", "ingresses", &INGRESS),
    ("extensions", "ingresses", &INGRESS),
    ("discovery.k8s.io", "endpointslices", &ENDPOINT_SLICE),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct Ingress {
    metadata: Option<Box<RawValue>>,
    spec: IngressSpec,
    status: IngressStatus,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct IngressSpec {
    ingress_class_name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    rules: Vec<IngressRule>,
    #[serde(deserialize_with = "nullable")]
    tls: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IngressRule {
    #[serde(deserialize_with = "nullable")]
    host: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct IngressStatus {
    load_balancer: LoadBalancerStatus,
}

static INGRESS: Printer = Printer {
    columns: &[
        NAME,
        column(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        column(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        column(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        column("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    print: |object, context| {
        let mut ingress: Ingress = super::parse(object)?;
        let metadata = ingress.metadata.take();
        let spec = &ingress.spec;
        const MAX: usize = 3;
        let mut hosts: Vec<&str> = Vec::new();
        let mut more = false;
        for rule in &spec.rules {
            if hosts.len() == MAX {
                more = true;
            }
            if !more && !rule.host.is_empty() {
                hosts.push(&rule.host);
            }
        }
        let hosts = if hosts.is_empty() {
            "*".to_owned()
        } else if more {
            format!("{} + {} more...", hosts.join(","), spec.rules.len() - MAX)
        } else {
            hosts.join(",")
        };
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                spec.ingress_class_name
                    .as_deref()
                    .unwrap_or("<none>")
                    .into(),
                hosts.into(),
                ingress.status.load_balancer.addresses().into(),
                if spec.tls.is_empty() { "80" } else { "80, 443" }.into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EndpointSlice {
    metadata: Option<Box<RawValue>>,
    #[serde(deserialize_with = "nullable")]
    address_type: String,
    #[serde(deserialize_with = "nullable")]
    ports: Vec<SlicePort>,
    #[serde(deserialize_with = "nullable")]
    endpoints: Vec<SliceEndpoint>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SlicePort {
    port: Option<i64>,
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SliceEndpoint {
    #[serde(deserialize_with = "nullable")]
    addresses: Vec<String>,
}

/// Up to three items, then `+ N more...`; `<unset>` when there are none.
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    const MAX: usize = 3;
    let mut shown = Vec::new();
    let mut count = 0;
    for item in items {
        if shown.len() < MAX {
            shown.push(item);
        }
        count += 1;
    }
    if count > MAX {
        format!("{} + {} more...", shown.join(","), count - MAX)
    } else if shown.is_empty() {
        "<unset>".into()
    } else {
        shown.join(",")
    }
}

static ENDPOINT_SLICE: Printer = Printer {
    columns: &[
        NAME,
        column(
            "AddressType",
            "string",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        column(
            "Ports",
            "string",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        column(
            "Endpoints",
            "string",
            "endpoints is a list of unique endpoints in this slice.",
        ),
        AGE,
    ],
    print: |object, context| {
        let mut slice: EndpointSlice = super::parse(object)?;
        let metadata = slice.metadata.take();
        let ports = list_with_more(slice.ports.iter().map(|p| match (&p.port, &p.name) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) => "*".into(),
        }));
        let endpoints = list_with_more(
            slice
                .endpoints
                .iter()
                .flat_map(|e| e.addresses.iter().cloned()),
        );
        Ok(Row::with(
            metadata,
            vec![
                object.name.into(),
                slice.address_type.into(),
                ports.into(),
                endpoints.into(),
                format::since(object.creation_timestamp, context.now).into(),
            ],
        ))
    },
};

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{cells, s};

    #[test]
    fn ingress_columns() {
        let cells = cells(
            ("networking.k8s.io", "v1", "ingresses"),
            json!({"kind": "Ingress", "metadata": {"name": "web", "creationTimestamp": "2024-03-01T09:59:00Z"},
                   "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "d.example.com"}, {"host": "e.example.com"}]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}),
        );
        assert_eq!(
            cells,
            [
                s("web"),
                s("nginx"),
                s("a.example.com,b.example.com,d.example.com + 2 more..."),
                s("1.2.3.4"),
                s("80, 443"),
                s("60s")
            ]
        );
    }

    #[test]
    fn endpoint_slice_columns() {
        let cells = cells(
            ("discovery.k8s.io", "v1", "endpointslices"),
            json!({"kind": "EndpointSlice", "metadata": {"name": "web-abc"}, "addressType": "IPv4",
                   "ports": [{"port": 80}, {"name": "metrics"}],
                   "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]}),
        );
        assert_eq!(
            cells,
            [
                s("web-abc"),
                s("IPv4"),
                s("80,metrics"),
                s("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                s("<unknown>")
            ]
        );
    }
}
