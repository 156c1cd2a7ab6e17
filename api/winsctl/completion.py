"""`winsctl completion bash|zsh`: shell completion generated from the argument parser itself,
so a new verb or flag completes without anyone editing a script.

Verbs and flags complete from the parser; kinds from the known kinds; object names, projects and
remote paths by asking the server (`winsctl get KIND -o name`, `winsctl ls DIR`) with the
`--server`/`--token` already typed on the line. zsh runs the same function through its
`bashcompinit`, which emulates bash's `complete` and `compgen`.
"""

from __future__ import annotations

import argparse

from winslow.api.winsctl.client import CliError

SHELLS = ("bash", "zsh")
KIND_WORDS = "pipelines projects stageruns nodes"
# what a positional argument holds, by its name in the parser
ROLES = {
    "kind": "kind",
    "name": "name",
    "names": "name",
    "project": "project",
    "target": "project",
    "stagerun": "project",
    "src": "path",
    "dst": "path",
    "path": "remote",
    "paths": "remote",
    "shell": "shell",
    "what": "subcommand",
}

BASH = r"""# winsctl completion for bash; load it with: source <(winsctl completion bash)
__winsctl_ask() {
    local args=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case "${COMP_WORDS[i]}" in
            --server|--token) args+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}") ;;
        esac
    done
    winsctl "${args[@]}" "$@" 2>/dev/null
}

__winsctl_remote() {
    local dir=""
    [[ "$1" == */* ]] && dir="${1%/*}"
    if [[ -z "$dir" ]]; then
        echo "resources/ workspaces/"
    else
        __winsctl_ask ls "$dir" | sed "s|^|$dir/|"
    fi
}

_winsctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local command="" i positional=() skip=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        local word="${COMP_WORDS[i]}"
        if [[ -n "$skip" ]]; then skip=""; continue; fi
        case " __VALUED__ " in *" $word "*) skip=1; continue ;; esac
        [[ "$word" == -* ]] && continue
        if [[ -z "$command" ]]; then command="$word"; else positional+=("$word"); fi
    done
    case "$prev" in
        -f|--filename) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
        -o|--output) COMPREPLY=($(compgen -W "table wide json yaml name" -- "$cur")); return 0 ;;
    esac
    case " __VALUED__ " in *" $prev "*) COMPREPLY=(); return 0 ;; esac
    if [[ -z "$command" ]]; then
        COMPREPLY=($(compgen -W "__COMMANDS__ __GLOBAL__" -- "$cur"))
        return 0
    fi
    local options="" roles="" subcommands="" names=""
    case "$command" in
__CASES__
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
        return 0
    fi
    local role
    role=$(echo $roles | cut -d' ' -f$(( ${#positional[@]} + 1 )))
    [[ -z "$role" ]] && role=$(echo $roles | awk '{print $NF}')
    case "$role" in
        kind) COMPREPLY=($(compgen -W "__KINDS__" -- "$cur")) ;;
        name) names=$(__winsctl_ask get "${positional[0]}" -o name | cut -d/ -f2)
              COMPREPLY=($(compgen -W "$names" -- "$cur")) ;;
        project) COMPREPLY=($(compgen -W "$(__winsctl_ask get projects -o name | cut -d/ -f2)" -- "$cur")) ;;
        remote) COMPREPLY=($(compgen -W "$(__winsctl_remote "$cur")" -- "$cur")) ;;
        path) COMPREPLY=($(compgen -f -- "$cur") $(compgen -W "$(__winsctl_remote "$cur")" -- "$cur")) ;;
        shell) COMPREPLY=($(compgen -W "__SHELLS__" -- "$cur")) ;;
        subcommand) COMPREPLY=($(compgen -W "$subcommands" -- "$cur")) ;;
        *) COMPREPLY=() ;;
    esac
    return 0
}
complete -F _winsctl winsctl
"""

ZSH_HEAD = """#compdef winsctl
# winsctl completion for zsh; load it with: source <(winsctl completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
"""


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> tuple[list[str], list[str]]:
    """Every flag of a parser, and those that take a value."""
    flags: list[str] = []
    valued: list[str] = []
    for action in parser._actions:
        flags += action.option_strings
        if action.option_strings and action.nargs != 0:
            valued += action.option_strings
    return flags, valued


def roles(parser: argparse.ArgumentParser) -> list[str]:
    found = []
    for action in parser._actions:
        if action.option_strings:
            continue
        found.append(ROLES.get(action.dest, "none"))
    return found


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    if shell not in SHELLS:
        raise CliError(f"no completion for {shell!r}; choose one of {', '.join(SHELLS)}")
    commands = subparsers(parser)
    top_flags, valued = options(parser)
    cases = []
    for name, sub in commands.items():
        flags, more = options(sub)
        valued += more
        nested = subparsers(sub)
        for inner in nested.values():
            flags += options(inner)[0]
            valued += options(inner)[1]
        positional = roles(sub) + (roles(next(iter(nested.values()))) if nested else [])
        cases.append(
            f'        {name}) options="{" ".join(sorted(set(flags)))}"; roles="{" ".join(positional)}"; '
            f'subcommands="{" ".join(nested)}" ;;'
        )
    body = (
        BASH.replace("__VALUED__", " ".join(sorted(set(valued))))
        .replace("__COMMANDS__", " ".join(commands))
        .replace("__GLOBAL__", " ".join(top_flags))
        .replace("__CASES__", "\n".join(cases))
        .replace("__KINDS__", KIND_WORDS)
        .replace("__SHELLS__", " ".join(SHELLS))
    )
    return body if shell == "bash" else ZSH_HEAD + body
