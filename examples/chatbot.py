"""A multi-turn chatbot traced with threadline-sdk: one session per conversation, one trace per turn.

The "LLM" is a local fake (no API key, no network besides Threadline). Run a server, then this:

    threadline serve &
    python examples/chatbot.py            # THREADLINE_ENDPOINT / THREADLINE_API_KEY if not local defaults
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import threadline_sdk as tl


@dataclass
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass
class Completion:
    """The shape of an OpenAI chat completion: observe(as_type="generation") reads .model and .usage from it."""

    model: str
    content: str
    usage: Usage


def fake_llm(messages: list[dict[str, str]]) -> Completion:
    question = messages[-1]["content"]
    answer = {"hi": "Hello! How can I help?", "order": "Your order A-1001 ships tomorrow.",
              "refund": "I have started a refund; it takes 3-5 days."}
    content = next((v for k, v in answer.items() if k in question.lower()), "Could you tell me more?")
    prompt_tokens = sum(len(m["content"].split()) for m in messages) * 4
    completion_tokens = len(content.split()) * 4
    usage = Usage(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)
    return Completion("gpt-4o-mini", content, usage)


@tl.observe(as_type="generation", model="gpt-4o-mini")
def call_llm(messages: list[dict[str, str]]) -> Completion:
    time.sleep(0.01)
    return fake_llm(messages)


class ChatBot:
    def __init__(self) -> None:
        self.history: list[dict[str, str]] = [{"role": "system", "content": "You are a support agent."}]

    @tl.observe(name="chat_turn")
    def reply(self, question: str) -> str:
        self.history.append({"role": "user", "content": question})
        answer = call_llm(self.history).content
        self.history.append({"role": "assistant", "content": answer})
        return answer


def main() -> list[str]:
    tl.init(service_name="example-chatbot")  # THREADLINE_ENDPOINT, THREADLINE_API_KEY
    run = uuid.uuid4().hex[:8]
    conversations = {
        f"example-chat-{run}-1": ["Hi", "Where is my order?", "Thanks!"],
        f"example-chat-{run}-2": ["Hi", "I want a refund", "How long?", "ok bye"],
    }
    for session_id, questions in conversations.items():
        bot = ChatBot()
        with tl.session(session_id, user_id="user-42", metadata={"channel": "web"}, tags=["example"]) as chat:
            for question in questions:
                print(f"{session_id} > {question}\n{session_id} < {bot.reply(question)}")
            chat.end("success" if "bye" not in questions[-1] else "indeterminate")
        print(f"session: {session_id}")

    tl.flush()
    with tl.Client() as client:  # read the sessions back
        for session_id in conversations:
            for _ in range(50):
                try:
                    found = client.sessions.get(session_id)
                    if found.trace_count == len(conversations[session_id]):
                        break
                except tl.NotFoundError:
                    pass
                time.sleep(0.1)
            print(f"{found.session_id}: {found.trace_count} turns, {found.total_tokens} tokens, "
                  f"${found.total_cost_usd:.6f}, end state {found.end_state}")
    return list(conversations)


if __name__ == "__main__":
    main()
