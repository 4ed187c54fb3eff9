#!/bin/sh
# Carry the embedded model's GGUF (98 MB) to a machine that takes at most 64 MiB per transfer:
#   bench/gpu_carry.sh split   here: writes .carry/part1/ and .carry/part2/ (each under 64 MiB)
#   bench/gpu_carry.sh join    there, once both parts arrived: writes .carry/embedded.gguf
# Send .carry/part1 with one call and .carry/part2 with the next, while the machine stays up
# (ignored files sent earlier are kept there). `join` checks the SHA-256 of the whole file.
# Then: python3 -m bench.gpu --embedded --gguf .carry/embedded.gguf
set -eu
dir=.carry
case "${1:-}" in
split)
    gguf=$(${PYTHON:-.venv/bin/python} -c "from sw_core.embedded import gguf_path; print(gguf_path())")
    rm -rf "$dir/part1" "$dir/part2"
    mkdir -p "$dir/part1" "$dir/part2"
    size=$(wc -c <"$gguf")
    half=$(( (size + 1) / 2 ))
    head -c "$half" "$gguf" >"$dir/part1/gguf.part"
    tail -c "+$((half + 1))" "$gguf" >"$dir/part2/gguf.part"
    sha256sum <"$gguf" | cut -d' ' -f1 >"$dir/part1/sha256"
    echo "split $gguf ($size bytes) into $dir/part1 and $dir/part2"
    ;;
join)
    cat "$dir/part1/gguf.part" "$dir/part2/gguf.part" >"$dir/embedded.gguf"
    want=$(cat "$dir/part1/sha256")
    got=$(sha256sum <"$dir/embedded.gguf" | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
        echo "join: SHA-256 mismatch ($got, expected $want): send both parts again" >&2
        rm -f "$dir/embedded.gguf"
        exit 1
    fi
    echo "joined $dir/embedded.gguf ($(wc -c <"$dir/embedded.gguf") bytes, SHA-256 checked)"
    ;;
*)
    echo "usage: $0 split|join" >&2
    exit 2
    ;;
esac
