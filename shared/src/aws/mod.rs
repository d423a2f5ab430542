//! AWS adapters: the only place `aws_sdk_*` types appear. Each service sits behind a Cargo
//! feature so a function compiles only the SDKs it uses. Adapters paginate, convert to domain
//! types and map errors; they decide nothing.

#[cfg(feature = "autoscaling")]
pub mod autoscaling;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
pub mod custom_resource;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "elbv2")]
pub mod elbv2;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "route53")]
pub mod route53;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "ssm")]
pub mod ssm;
pub mod web;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
pub use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
pub use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::error::Error;

/// The SDK's own default connect timeout (aws-config's `SDK_DEFAULT_CONNECT_TIMEOUT`).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Error codes AWS uses for throttling; the SDK retries them, and so may Lambda after it.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// What a function's SDK configuration is made of. In Lambda all of it is in the environment
/// (`AWS_REGION`, the execution role's keys, `AWS_ENDPOINT_URL` for the emulator); tests set it
/// themselves.
#[derive(Debug, Clone)]
pub struct AwsEnv {
    pub region: Option<Region>,
    pub endpoint_url: Option<String>,
    pub credentials: SharedCredentialsProvider,
    /// Sent in every request's user agent (the emulator's request log tells tests apart by it).
    pub app_name: Option<AppName>,
}

impl AwsEnv {
    /// The Lambda environment: region, endpoint and the execution role's credentials, read
    /// from environment variables only.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        AwsEnv {
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .map(Region::new),
            endpoint_url: var("AWS_ENDPOINT_URL"),
            credentials: SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ),
            app_name: None,
        }
    }
}

/// The SDK configuration of every function and test: standard retry (3 attempts), the SDK's
/// connect timeout, HTTPS through rustls with ring and Mozilla's root certificates compiled in.
/// Built from explicit values, not `aws-config`'s default chain: a Lambda has no profile files,
/// no SSO and no IMDS to look for, and looking costs each cold start.
pub fn sdk_config(env: AwsEnv) -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(env.credentials)
        .http_client(SharedHttpClient::new(LazyHttps::default()))
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .time_source(SharedTimeSource::default())
        .identity_cache(aws_config::identity::IdentityCache::lazy().build());
    builder.set_sleep_impl(default_async_sleep());
    builder.set_region(env.region);
    builder.set_endpoint_url(env.endpoint_url);
    builder.set_app_name(env.app_name);
    builder.build()
}

/// [`sdk_config`] from the Lambda environment, what each function builds at init.
pub fn sdk_config_from_env() -> SdkConfig {
    sdk_config(AwsEnv::from_env())
}

/// One HTTPS client for every service client of a configuration, made on its first request.
/// The SDK's own client builds a TLS connector (parsing every root certificate) once per
/// service client at construction, to discard it; this one builds it once, when a request
/// needs it, so a cold start pays for TLS only when it talks to AWS.
#[derive(Debug, Default)]
struct LazyHttps(OnceLock<SharedHttpClient>);

impl LazyHttps {
    fn client(&self) -> &SharedHttpClient {
        self.0.get_or_init(|| {
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .tls_context(tls_context())
                .build_https()
        })
    }
}

impl HttpClient for LazyHttps {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.client().connector_metadata()
    }
}

/// A service client made on its first use. Making one resolves the SDK's endpoint partitions
/// (a JSON document and its regular expressions, per service crate), so a client an invocation
/// never uses costs the cold start nothing. Clones share the one client.
#[derive(Clone)]
pub(crate) struct LazyClient<C>(Arc<LazyClientCell<C>>);

struct LazyClientCell<C> {
    sdk: SdkConfig,
    make: fn(&SdkConfig) -> C,
    client: OnceLock<C>,
}

impl<C> LazyClient<C> {
    pub(crate) fn new(sdk: &SdkConfig, make: fn(&SdkConfig) -> C) -> Self {
        LazyClient(Arc::new(LazyClientCell {
            sdk: sdk.clone(),
            make,
            client: OnceLock::new(),
        }))
    }
}

impl<C> std::ops::Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        let cell = &self.0;
        cell.client.get_or_init(|| (cell.make)(&cell.sdk))
    }
}

impl<C> std::fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.client.get().is_some() {
            "LazyClient(made)"
        } else {
            "LazyClient(not yet made)"
        })
    }
}

/// Mozilla's root certificates (the `webpki-root-certs` crate) as one PEM bundle. Compiled in
/// rather than read from the system store: no certificate files scanned at each cold start,
/// and the same roots wherever the function runs; every AWS endpoint chains to one of them
/// (Amazon Root CA 1–4, Starfield Services Root CA G2).
/// TLS with the compiled-in roots, for the SDK's clients and halfhour's own HTTPS requests.
fn tls_context() -> TlsContext {
    let trust = TrustStore::empty().with_pem_certificate(roots_pem());
    // A context of roots only cannot fail to build today; were it to, the system store serves.
    TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default()
}

/// The connector for halfhour's own HTTP(S) requests (a custom resource's answer, a page a
/// visitor would get): the same rustls connector and roots the SDK clients use.
pub(crate) fn https_connector() -> aws_smithy_http_client::Connector {
    aws_smithy_http_client::Connector::builder()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context())
        .build()
}

/// One such request through `connector`, bounded by `timeout`.
pub(crate) async fn http_call(
    connector: &aws_smithy_http_client::Connector,
    request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    timeout: Duration,
    operation: &'static str,
) -> crate::error::Result<aws_smithy_runtime_api::client::orchestrator::HttpResponse> {
    use aws_smithy_runtime_api::client::http::HttpConnector;
    let failed = |message: String| crate::error::Error::Retryable { operation, message };
    tokio::time::timeout(timeout, connector.call(request))
        .await
        .map_err(|_| failed(format!("no answer in {} s", timeout.as_secs())))?
        .map_err(|e| failed(e.to_string()))
}

fn roots_pem() -> Vec<u8> {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        pem.push_str(&aws_smithy_types::base64::encode(cert.as_ref()));
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// Map an SDK failure to the error kind the caller acts on.
pub(crate) fn classify<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&err).to_string();
    let code = err
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned);
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service
                .err()
                .code()
                .is_some_and(|code| THROTTLING_CODES.contains(&code))
                || service.raw().status().is_server_error()
        }
        _ => false,
    };
    if retryable {
        Error::Retryable { operation, message }
    } else {
        Error::Aws {
            operation,
            code,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    /// The bundle decodes, as the TLS connector will decode it, to exactly the compiled-in roots.
    #[test]
    fn the_compiled_in_roots_round_trip_through_pem() {
        let pem = super::roots_pem();
        let decoded = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(decoded, webpki_root_certs::TLS_SERVER_ROOT_CERTS);
        assert!(decoded.len() > 100, "Mozilla's set, not a handful");
    }

    /// The roots AWS endpoints chain to (amazontrust.com/repository) are among them.
    #[test]
    fn the_roots_aws_endpoints_chain_to_are_compiled_in() {
        for subject in [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ] {
            assert!(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS
                    .iter()
                    .any(|cert| cert
                        .as_ref()
                        .windows(subject.len())
                        .any(|w| w == subject.as_bytes())),
                "{subject} is missing"
            );
        }
    }
}
