// Two turns of a chat through the unmodified Vercel AI SDK (`ai` 5.x) with its OpenTelemetry telemetry on, exported
// by the OpenTelemetry JS SDK to a Threadline server: the setup an application has, only the endpoint and key point
// at Threadline. The language model is `ai/test`'s MockLanguageModelV2 (no network, fixed answers and usage), so
// tests/clients/test_vercel_ai.py can assert exact text and token counts.
//
// Usage: node run_vercel_ai.mjs --endpoint URL --protocol proto|json|grpc --session-id ID
//                               [--api-key KEY] [--user-id ID] [--function-id NAME]
// Each option falls back to an environment variable: THREADLINE_ENDPOINT, THREADLINE_PROTOCOL, THREADLINE_API_KEY,
// THREADLINE_SESSION_ID, THREADLINE_USER_ID, THREADLINE_FUNCTION_ID. For proto and json the endpoint is the HTTP base
// URL (http://127.0.0.1:4318; spans go to /v1/traces); for grpc it is the gRPC listener (http://127.0.0.1:4317).
// Prints one JSON line {"turns": [answer 1, answer 2], "calls": model calls} and exits 0 once the spans are exported
// (a failed export makes forceFlush reject, so the process exits non-zero).
import { parseArgs } from 'node:util';

import { Metadata } from '@grpc/grpc-js';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { generateText, stepCountIs, tool } from 'ai';
import { MockLanguageModelV2 } from 'ai/test';
import { z } from 'zod';

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string', default: process.env.THREADLINE_ENDPOINT },
    protocol: { type: 'string', default: process.env.THREADLINE_PROTOCOL ?? 'proto' },
    'api-key': { type: 'string', default: process.env.THREADLINE_API_KEY ?? '' },
    'session-id': { type: 'string', default: process.env.THREADLINE_SESSION_ID },
    'user-id': { type: 'string', default: process.env.THREADLINE_USER_ID ?? 'user-js-1' },
    'function-id': { type: 'string', default: process.env.THREADLINE_FUNCTION_ID ?? 'weather-chat' },
  },
});
if (!args.endpoint || !args['session-id']) {
  console.error('run_vercel_ai.mjs: --endpoint and --session-id are required (or THREADLINE_ENDPOINT/_SESSION_ID)');
  process.exit(2);
}

function exporterFor(protocol, endpoint, apiKey) {
  const base = endpoint.replace(/\/+$/, '');
  const headers = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
  if (protocol === 'proto') return new ProtoExporter({ url: `${base}/v1/traces`, headers });
  if (protocol === 'json') return new JsonExporter({ url: `${base}/v1/traces`, headers });
  if (protocol === 'grpc') {
    const metadata = new Metadata();
    if (apiKey) metadata.set('authorization', `Bearer ${apiKey}`);
    return new GrpcExporter({ url: base, metadata });
  }
  throw new Error(`unknown protocol ${protocol}: use proto, json or grpc`);
}

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'vercel-ai-chat' }),
  spanProcessors: [new BatchSpanProcessor(exporterFor(args.protocol, args.endpoint, args['api-key']))],
});
provider.register();

// The model's answers, in call order: turn 1 asks for the tool, then answers with its result; turn 2 answers directly.
const responses = [
  {
    content: [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'getWeather', input: '{"city":"Paris"}' }],
    finishReason: 'tool-calls',
    usage: { inputTokens: 21, outputTokens: 7, totalTokens: 28 },
  },
  {
    content: [{ type: 'text', text: 'It is 18 degrees and sunny in Paris.' }],
    finishReason: 'stop',
    usage: { inputTokens: 45, outputTokens: 11, totalTokens: 56 },
  },
  {
    content: [{ type: 'text', text: 'No umbrella needed: the sky over Paris is clear.' }],
    finishReason: 'stop',
    usage: { inputTokens: 70, outputTokens: 13, totalTokens: 83 },
  },
];
let call = 0;
const model = new MockLanguageModelV2({
  provider: 'mock-provider',
  modelId: 'mock-weather-model',
  doGenerate: async () => {
    const answer = responses[call++];
    return {
      ...answer,
      warnings: [],
      response: { id: `resp-${call}`, modelId: 'mock-weather-model', timestamp: new Date(0) },
    };
  },
});

const getWeather = tool({
  description: 'The current weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, temperatureC: 18, conditions: 'sunny' }),
});

const telemetry = {
  isEnabled: true,
  functionId: args['function-id'],
  // sessionId and userId name the session and its user; any other entry is the turn's metadata.
  metadata: { sessionId: args['session-id'], userId: args['user-id'], channel: 'web' },
};

// Turn 1: system + prompt, one tool call (stopWhen lets the SDK run the tool and call the model again).
const question1 = 'What is the weather in Paris?';
const turn1 = await generateText({
  model,
  system: 'You are a concise weather assistant.',
  prompt: question1,
  tools: { getWeather },
  stopWhen: stepCountIs(3),
  experimental_telemetry: telemetry,
});

// Turn 2: the conversation so far as messages (what a chat route sends), no tool needed.
const question2 = 'Do I need an umbrella?';
const turn2 = await generateText({
  model,
  system: 'You are a concise weather assistant.',
  messages: [
    { role: 'user', content: question1 },
    ...turn1.response.messages,
    { role: 'user', content: [{ type: 'text', text: question2 }] },
  ],
  tools: { getWeather },
  stopWhen: stepCountIs(3),
  experimental_telemetry: telemetry,
});

await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify({ turns: [turn1.text, turn2.text], calls: call }));
