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
