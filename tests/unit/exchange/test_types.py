"""Blofin payload parsing: the documented examples (values read by hand), every malformed kind rejected with its
reason, and subscription batching under the 4,096-byte bound."""

from __future__ import annotations

import json
from typing import Any

import pytest

from blofin_stack.exchange.blofin.types import (
    Candle,
    CandlePush,
    ErrorEvent,
    Instrument,
    MalformedFrame,
    Pong,
    Subscribed,
    Ticker,
    Trade,
    TradesPush,
    Unsubscribed,
    parse_candle_row,
    parse_instrument,
    parse_ticker,
    parse_trade,
    parse_ws_message,
    subscribe_messages,
)

# The examples of BLOFIN_API.md, verbatim.
TRADES_PUSH = """{"arg": {"channel": "trades", "instId": "ETH-USDT"},
 "data": [{"instId": "ETH-USDT", "tradeId": "106074994", "price": "1640.4", "size": "1", "side": "sell",
 "ts": "1696646190511"}]}"""
CANDLE_PUSH = """{"arg": {"channel": "candle1m", "instId": "BTC-USDT"},
 "data": [["1696636800000", "27491.5", "27495", "27483", "27489.5", "95359", "95.359", "2621407.651", "0"]]}"""
REST_CANDLE_ROW = ["1703484240000", "2283.45", "2283.45", "2282.8", "2282.8", "835", "8.35", "19063.9805", "1"]
ACK = '{"event": "subscribe", "arg": {"channel": "trades", "instId": "ETH-USDT"}}'
ERROR = '{"event": "error", "code": "60012", "msg": "Invalid request: {\\"op\\": \\"subscribe\\"}"}'

GOOD_TRADE = {
    "instId": "ETH-USDT",
    "tradeId": "7",
    "price": "1640.4",
    "size": "2",
    "side": "buy",
    "ts": "1696646190511",
}
GOOD_ROW = ["1696636800000", "27491.5", "27495", "27483", "27489.5", "95359", "95.359", "2621407.651", "1"]


def trades_frame(*trades: Any, inst_id: str = "ETH-USDT") -> str:
    return json.dumps({"arg": {"channel": "trades", "instId": inst_id}, "data": list(trades)})


def candle_frame(*rows: Any, channel: str = "candle1m") -> str:
    return json.dumps({"arg": {"channel": channel, "instId": "BTC-USDT"}, "data": list(rows)})


def trade_with(**fields: object) -> dict[str, object]:
    return {**GOOD_TRADE, **fields}


def row_with(**fields: str) -> list[object]:
    names = ["ts", "open", "high", "low", "close", "volume", "volume_base", "volume_quote", "confirm"]
    return [fields.get(name, value) for name, value in zip(names, GOOD_ROW, strict=True)]


def test_documented_trades_push() -> None:
    event = parse_ws_message(TRADES_PUSH)
    assert event == TradesPush(
        "ETH-USDT", (Trade("ETH-USDT", 106074994, 1696646190511, 1640.4, 1.0, "sell", synthetic=False),)
    )


def test_documented_candle_push_is_a_forming_bar() -> None:
    event = parse_ws_message(CANDLE_PUSH)
    assert event == CandlePush(
        "BTC-USDT",
        "1m",
        (Candle("BTC-USDT", 1696636800000, 27491.5, 27495.0, 27483.0, 27489.5, 95359.0, 95.359, 2621407.651, False),),
    )


def test_documented_rest_candle_row_is_confirmed() -> None:
    candle = parse_candle_row("ETH-USDT", tuple(REST_CANDLE_ROW))
    assert candle == Candle("ETH-USDT", 1703484240000, 2283.45, 2283.45, 2282.8, 2282.8, 835.0, 8.35, 19063.9805, True)


def test_acks_errors_and_pong() -> None:
    assert parse_ws_message(ACK) == Subscribed("trades", "ETH-USDT")
    assert parse_ws_message(ACK.replace('"subscribe"', '"unsubscribe"')) == Unsubscribed("trades", "ETH-USDT")
    assert parse_ws_message(ERROR) == ErrorEvent("60012", 'Invalid request: {"op": "subscribe"}')
    assert parse_ws_message("pong") == Pong()


def test_several_trades_per_push_keep_order_and_synthetic_flag() -> None:
    frame = trades_frame(trade_with(tradeId="8"), trade_with(tradeId="9", synthetic=True, price=1641))
    event = parse_ws_message(frame)
    assert isinstance(event, TradesPush)
    assert [(t.trade_id, t.price, t.synthetic) for t in event.trades] == [(8, 1640.4, False), (9, 1641.0, True)]


def test_rest_trade_and_reference_objects() -> None:
    assert parse_trade(GOOD_TRADE) == Trade("ETH-USDT", 7, 1696646190511, 1640.4, 2.0, "buy")
    instrument = {
        "instId": "BTC-USDT",
        "baseCurrency": "BTC",
        "quoteCurrency": "USDT",
        "contractValue": "0.001",
        "listTime": "1691048331000",
        "maxLeverage": "150",
        "tickSize": "0.1",
        "lotSize": "1",
        "minSize": "1",
        "state": "live",
    }
    assert parse_instrument(instrument) == Instrument("BTC-USDT", 0.001, "BTC", "USDT", 0.1, 1.0, 1.0, "live")
    ticker = {"instId": "BTC-USDT", "last": "42000.5", "lastSize": "3", "volCurrency24h": "12000.25",
              "vol24h": "12000250", "ts": "1703484240000"}  # fmt: skip
    assert parse_ticker(ticker) == Ticker("BTC-USDT", 42000.5, 12000.25, 12000250.0, 1703484240000)
    with pytest.raises(MalformedFrame, match="contractValue must be finite and > 0"):
        parse_instrument({**instrument, "contractValue": "0"})
    with pytest.raises(MalformedFrame, match="missing field 'last'"):
        parse_ticker({k: v for k, v in ticker.items() if k != "last"})


MALFORMED = {
    "bad JSON": ('{"arg": ', "not JSON"),
    "not an object": ("[1, 2]", "message must be a JSON object, got list"),
    "no data": ('{"arg": {"channel": "trades", "instId": "ETH-USDT"}}', "missing field 'data'"),
    "data not array": ('{"arg": {"channel": "trades", "instId": "ETH-USDT"}, "data": {}}', "data must be an array"),
    "empty data": (trades_frame(), "data is empty"),
    "no arg": ('{"data": [1]}', "arg must be a JSON object, got NoneType"),
    "arg without instId": ('{"arg": {"channel": "trades"}, "data": [1]}', "arg: missing field 'instId'"),
    "unknown channel": (trades_frame(GOOD_TRADE).replace('"trades"', '"books"'), "unknown channel 'books'"),
    "unknown bar": (candle_frame(GOOD_ROW, channel="candle7m"), "unknown channel 'candle7m'"),
    "unknown event": ('{"event": "login", "code": "0"}', "unknown event 'login'"),
    "error without code": ('{"event": "error", "msg": "x"}', "missing field 'code'"),
    "missing price in 2nd trade": (
        trades_frame(GOOD_TRADE, {k: v for k, v in GOOD_TRADE.items() if k != "price"}),
        "data[1]: missing field 'price'",
    ),
    "text price": (trades_frame(trade_with(price="abc")), "data[0]: price is not a number: 'abc'"),
    "boolean price": (trades_frame(trade_with(price=True)), "data[0]: price is not a number: True"),
    "null size": (trades_frame(trade_with(size=None)), "data[0]: size is not a number: None"),
    "NaN price": (trades_frame(trade_with(price="NaN")), "data[0]: price must be finite and > 0, got 'NaN'"),
    "inf price": (trades_frame(trade_with(price="inf")), "data[0]: price must be finite and > 0, got 'inf'"),
    "zero price": (trades_frame(trade_with(price="0")), "data[0]: price must be finite and > 0, got '0'"),
    "negative size": (trades_frame(trade_with(size="-2")), "data[0]: size must be finite and > 0, got '-2'"),
    "bad side": (trades_frame(trade_with(side="long")), "data[0]: side must be 'buy' or 'sell', got 'long'"),
    "bad tradeId": (trades_frame(trade_with(tradeId="12a")), "data[0]: tradeId is not an integer: '12a'"),
    "ts in seconds": (trades_frame(trade_with(ts="1696646190")), "data[0]: ts is not an epoch ms time"),
    "bad synthetic": (trades_frame(trade_with(synthetic="yes")), "data[0]: synthetic must be a boolean"),
    "instId mismatch": (
        trades_frame(GOOD_TRADE, trade_with(instId="BTC-USDT")),
        "data[1]: instId 'BTC-USDT' differs from arg instId 'ETH-USDT'",
    ),
    "high below low": (candle_frame(row_with(high="27480")), "data[0]: high 27480 < low 27483"),
    "close above high": (
        candle_frame(GOOD_ROW, row_with(close="27500")),
        "data[1]: open 27491.5 / close 27500 outside [low 27483, high 27495]",
    ),
    "8 fields": (candle_frame(GOOD_ROW[:8]), "data[0]: candle must have 9 fields, got 8"),
    "row not array": (candle_frame({"ts": 1}), "data[0]: candle must be an array, got dict"),
    "NaN open": (candle_frame(row_with(open="nan")), "data[0]: open must be finite and > 0, got 'nan'"),
    "negative volume": (candle_frame(row_with(volume="-1")), "data[0]: volume must be finite and >= 0, got '-1'"),
    "bad confirm": (candle_frame(row_with(confirm="2")), "data[0]: confirm must be '0' or '1', got '2'"),
}


@pytest.mark.parametrize(("frame", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_frames_rejected_with_reason(frame: str, reason: str) -> None:
    with pytest.raises(MalformedFrame) as caught:
        parse_ws_message(frame)
    assert caught.value.reason.startswith(reason), caught.value.reason
    assert caught.value.text == frame


def test_malformed_frame_message_truncates_the_text() -> None:
    frame = trades_frame(*[GOOD_TRADE] * 40, trade_with(price="-1"))
    assert len(frame) > 4000
    with pytest.raises(MalformedFrame) as caught:
        parse_ws_message(frame)
    shown = str(caught.value)
    assert shown.startswith("data[40]: price must be finite and > 0")
    assert frame[:400] in shown and frame[-100:] not in shown
    assert len(shown) < 650
    assert caught.value.text == frame


def args_text(message: str) -> str:
    """The ``args`` JSON exactly as it appears in the sent message."""
    start = message.index('"args":') + len('"args":')
    assert message.endswith("}")
    return message[start:-1]


def test_subscribe_batching_200_instruments_two_channels() -> None:
    pairs = [(channel, f"COIN{i:03d}-USDT") for i in range(200) for channel in ("trades", "candle1m")]
    messages = subscribe_messages(pairs + pairs[:10])  # repeated pairs go out once
    sent: list[tuple[str, str]] = []
    for i, message in enumerate(messages):
        body = json.loads(message)
        assert body["op"] == "subscribe"
        assert len(args_text(message).encode()) <= 4096
        assert json.loads(args_text(message)) == body["args"]
        sent.extend((arg["channel"], arg["instId"]) for arg in body["args"])
        if i + 1 < len(messages):  # greedy: the next message's first arg would not have fitted
            first_next = json.dumps(json.loads(messages[i + 1])["args"][0], separators=(",", ":"))
            assert len(args_text(message).encode()) + 1 + len(first_next) > 4096
    assert sent == pairs
    assert len(messages) >= 5  # 400 args of ~40 bytes cannot fit in 4 messages


def test_subscribe_messages_unsubscribe_bounds_and_errors() -> None:
    pairs = [("trades", "BTC-USDT"), ("candle1m", "BTC-USDT")]
    (message,) = subscribe_messages(pairs, op="unsubscribe")
    assert json.loads(message) == {
        "op": "unsubscribe",
        "args": [{"channel": "trades", "instId": "BTC-USDT"}, {"channel": "candle1m", "instId": "BTC-USDT"}],
    }
    # the args JSON of both is 1 + 40 + 1 + 42 + 1 = 85 bytes: one message at 85, one per arg below
    assert len(subscribe_messages(pairs, max_args_bytes=85)) == 1
    assert len(subscribe_messages(pairs, max_args_bytes=84)) == 2
    assert subscribe_messages([]) == []
    with pytest.raises(ValueError, match="alone is longer than 41 bytes"):  # 40 bytes, 42 with the brackets
        subscribe_messages(pairs[:1], max_args_bytes=41)
    with pytest.raises(ValueError, match="op must be"):
        subscribe_messages(pairs, op="login")


def test_malformed_frame_raised_outside_the_parser_names_where() -> None:
    error = MalformedFrame("trades for unsubscribed instrument XYZ-USDT", "XYZ-USDT", "instId")
    assert str(error) == "instId: trades for unsubscribed instrument XYZ-USDT in frame 'XYZ-USDT'"
    assert (error.reason, error.text, error.where) == (
        "trades for unsubscribed instrument XYZ-USDT",
        "XYZ-USDT",
        "instId",
    )
    assert str(MalformedFrame("empty")) == "empty"
