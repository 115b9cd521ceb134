//! Throughput of the side tap the relay runs on every streamed body chunk.
//!
//! The inputs imitate real streams: an Anthropic stream that is mostly `content_block_delta`
//! events (with the recorded space padding) and a Chat Completions stream ending with a usage
//! chunk, both about 1 MB and fed in 16 KiB chunks as a TCP/TLS reader would deliver them.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchyard_core::Dialect;
use switchyard_protocol::{ChatUsageStripper, StreamTap};

const TARGET: usize = 1 << 20;
const CHUNK: usize = 16 * 1024;

fn anthropic_stream() -> Vec<u8> {
    let mut s = String::from(concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01LA\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":16,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},\"output_tokens\":4,\"service_tier\":\"standard\"}}               }\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}          }\n\n",
    ));
    let words = [
        "Olá! ",
        "Here is ",
        "the refactored function, ",
        "with the error handling moved ",
        "into a helper so that ",
        "each branch stays short.\\n",
    ];
    let mut i = 0;
    while s.len() < TARGET {
        if i % 97 == 0 {
            s.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
        }
        s.push_str("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
        s.push_str(words[i % words.len()]);
        s.push_str("\"}     }\n\n");
        i += 1;
    }
    s.push_str(concat!(
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0          }\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":16,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":38}      }\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\" }\n\n",
    ));
    s.into_bytes()
}

fn chat_stream() -> Vec<u8> {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < TARGET {
        s.push_str("data: {\"id\":\"chatcmpl-CLx1\",\"object\":\"chat.completion.chunk\",\"created\":1759350264,\"model\":\"gpt-5-mini-2025-08-07\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        s.push_str(if i % 2 == 0 { "Olá" } else { " world, again" });
        s.push_str("\"},\"finish_reason\":null}],\"usage\":null}\n\n");
        i += 1;
    }
    s.push_str("data: {\"id\":\"chatcmpl-CLx1\",\"object\":\"chat.completion.chunk\",\"created\":1759350264,\"model\":\"gpt-5-mini-2025-08-07\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens\":76,\"completion_tokens_details\":{\"reasoning_tokens\":64,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0},\"total_tokens\":95}}\n\ndata: [DONE]\n\n");
    s.into_bytes()
}

fn tap_all(dialect: Dialect, body: &[u8]) -> Option<u64> {
    let mut tap = StreamTap::new(dialect);
    for chunk in body.chunks(CHUNK) {
        tap.feed(chunk);
    }
    tap.finish();
    tap.usage().map(|u| u.output_tokens)
}

fn bench(c: &mut Criterion) {
    let anthropic = anthropic_stream();
    let chat = chat_stream();
    assert_eq!(tap_all(Dialect::Anthropic, &anthropic), Some(38));
    assert_eq!(tap_all(Dialect::OpenaiChat, &chat), Some(76));

    let mut group = c.benchmark_group("stream_tap");
    group.throughput(Throughput::Bytes(anthropic.len() as u64));
    group.bench_function("anthropic_1mb", |b| {
        b.iter(|| tap_all(Dialect::Anthropic, black_box(&anthropic)))
    });
    group.throughput(Throughput::Bytes(chat.len() as u64));
    group.bench_function("chat_1mb", |b| {
        b.iter(|| tap_all(Dialect::OpenaiChat, black_box(&chat)))
    });
    group.finish();

    let mut group = c.benchmark_group("chat_usage_strip");
    group.throughput(Throughput::Bytes(chat.len() as u64));
    let mut out = Vec::with_capacity(chat.len());
    group.bench_function("chat_1mb", |b| {
        b.iter(|| {
            out.clear();
            let mut stripper = ChatUsageStripper::new();
            for chunk in black_box(&chat).chunks(CHUNK) {
                stripper.push(chunk, &mut out);
            }
            stripper.finish(&mut out);
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
