//! The emulator's SNS against AWS's documented rules for structured messages.

use halfhour_tests::Emulator;

/// "If you set MessageStructure to json, the value of the Message parameter must: be a
/// syntactically valid JSON object; and contain at least a top-level JSON key of "default" with
/// a value that is a string" (API_Publish), checked at Publish, with no subscriber at all.
#[tokio::test]
async fn a_structured_message_needs_json_with_a_default_entry() {
    let config = Emulator::shared().sdk_config("emulator-sns").await;
    let topic = halfhour_tests::fixture::create_topic(&config, "emulator-sns")
        .await
        .expect("topic");
    let sns = aws_sdk_sns::Client::new(&config);
    let publish = |message: &'static str| {
        sns.publish()
            .topic_arn(&topic)
            .message_structure("json")
            .message(message)
            .send()
    };
    for (message, why) in [
        ("not json", "failed to parse"),
        ("[\"default\"]", "failed to parse"),
        ("{\"email\": \"hi\"}", "No default entry"),
        ("{\"default\": {\"nested\": true}}", "No default entry"),
    ] {
        let err = publish(message).await.expect_err(message);
        let text = format!("{}", aws_sdk_sns::error::DisplayErrorContext(&err));
        assert!(text.contains("InvalidParameter"), "{message}: {text}");
        assert!(text.contains(why), "{message}: {text}");
    }
    publish("{\"default\": \"{}\", \"email\": \"readable\"}")
        .await
        .expect("a valid structured message");
}

/// AWS's refusal reaches the caller with its error code, not only as text: SNS answers
/// `NotFound` for a topic that does not exist (API_Publish, Errors).
#[tokio::test]
async fn an_aws_refusal_keeps_its_error_code() {
    let config = Emulator::shared().sdk_config("emulator-sns-code").await;
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic".to_owned();
    let notifier = halfhour::aws::sns::notifier(&config, Some(&missing)).expect("a notifier");
    let cluster = halfhour::domain::ClusterName::new("prod").expect("valid");
    let notice = halfhour::domain::Notice::new(
        halfhour::domain::Loop::Scaling,
        &cluster,
        "at-max",
        "title",
        "description",
    );
    let err = notifier.notify(&notice).await.expect_err("no such topic");
    assert_eq!(err.kind(), halfhour::ErrorKind::Aws, "{err}");
    assert_eq!(err.aws_code(), Some("NotFound"), "{err}");
    assert!(err.to_string().contains("(NotFound)"), "{err}");
}
