# bash completion for toucan-token                                   -*- shell-script -*-
# Installed as share/bash-completion/completions/toucan-token (loaded on demand by
# bash-completion); it also works sourced on its own, without bash-completion's helpers.

_toucan_token_words() {  # the candidates in $2 that start with $1, one per line
  local IFS=$' \t\n'
  compgen -W "$2" -- "$1"
}

# Files for @FILE arguments: "@" followed by a path.
_toucan_token_at_files() {
  local path=${1#@} candidate
  compopt -o nospace 2>/dev/null
  while IFS= read -r candidate; do
    [[ -d $candidate ]] && candidate+=/
    COMPREPLY+=("@$candidate")
  done < <(compgen -f -- "$path")
}

_toucan_token_files() {
  compopt -o filenames 2>/dev/null
  local candidate
  while IFS= read -r candidate; do COMPREPLY+=("$candidate"); done < <(compgen -f -- "$1")
}

# Profile names: the [profile.NAME] tables of the configuration file, read without running it.
_toucan_token_profiles() {
  local config=${TOUCAN_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/toucan-token/config.toml}
  [[ -f $config && -r $config ]] || return
  sed -nE 's/^[[:space:]]*\[[[:space:]]*profile\.("([^"]*)"|([A-Za-z0-9_-]+))[[:space:]]*\].*/\2\3/p' \
    "$config" 2>/dev/null
}

_toucan_token() {
  local cur prev words cword split=false
  if declare -F _init_completion >/dev/null; then
    # -n := keeps KEY:=JSON and --option=value whole; -s then splits --option=value.
    _init_completion -s -n := || return
  else
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    # Plain bash splits "--output=js" into "--output" "=" "js", and "-a k:=v" into "k" ":" "=" "v".
    if [[ $cur == [=:] ]]; then
      [[ $cur == "=" && $prev == --* ]] || return  # the rest of KEY=VALUE: nothing to offer
      cur=""
    elif [[ $prev == "=" ]]; then
      [[ $cword -ge 2 && ${COMP_WORDS[COMP_CWORD - 2]} == --* ]] || return
      prev=${COMP_WORDS[COMP_CWORD - 2]}
    elif [[ $prev == ":" ]]; then
      return
    fi
    # With hostcomplete on (bash's default), "@" is a word break too: "--attributes" "@" "pa".
    if [[ $prev == "@" && $cword -ge 2 ]]; then
      cur=@$cur
      prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi
  fi
  COMPREPLY=()

  # The subcommand: the first word that is not an option or an option's value.
  local command="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      batch | profiles | cache | completion | config) command=${words[i]} && break ;;
    esac
  done
  local in_batch=false
  [[ $command == batch ]] && in_batch=true

  case $prev in
    -o | --output)
      mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "json token header env shell github")
      return ;;
    -r | --role)
      mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "explorer")
      return ;;
    --api-key-env)
      mapfile -t COMPREPLY < <(compgen -e -- "$cur")
      return ;;
    --profile)
      local name quoted
      while IFS= read -r name; do
        [[ -n $name && $name == "$cur"* ]] || continue
        printf -v quoted %q "$name"  # a quoted name may hold spaces
        COMPREPLY+=("$quoted")
      done < <(_toucan_token_profiles)
      return ;;
    --schema)
      _toucan_token_files "$cur"
      return ;;
    --api-key-file | --cacert)
      [[ $prev == --api-key-file && -z $cur ]] && COMPREPLY+=(-)
      _toucan_token_files "$cur"
      return ;;
    --attributes | --permissions)
      if [[ $cur == @* ]]; then
        _toucan_token_at_files "$cur"
      elif [[ -z $cur ]]; then
        COMPREPLY=(@ - "{")
        compopt -o nospace 2>/dev/null
      fi
      return ;;
    -u | --distinct-id | -a | --attribute | --base-url | --endpoint-path | --timeout | \
      --connect-timeout | --retries | --concurrency | --min-ttl)
      return ;;  # free text
  esac
  [[ $split == true ]] && return

  case $command in
    profiles)  # lists the profiles; --profile marks the active one
      [[ $cur == -* ]] && mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "--profile --help")
      return ;;
    cache)
      local has_clear=false
      for ((i = i + 1; i < cword; i++)); do [[ ${words[i]} == clear ]] && has_clear=true; done
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "--help")
      elif [[ $has_clear == false ]]; then
        mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "clear")
      fi
      return ;;
    completion)  # one shell name
      if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "--help")
      elif ((cword == i + 1)); then
        mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "bash zsh fish")
      fi
      return ;;
  esac

  local options="--role --attribute --attributes --permissions --base-url --endpoint-path
    --api-key-env --api-key-file --timeout --connect-timeout --retries --cacert --dry-run
    --verbose --quiet --help --profile --schema --no-cache --min-ttl"
  if [[ $in_batch == true ]]; then
    options+=" --concurrency --csv --keep-going"  # -u, -o and --cache are usage errors here
  else
    options+=" --distinct-id --output --version --cache"
  fi

  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "$options")
  elif [[ $in_batch == true ]]; then
    [[ -z $cur ]] && COMPREPLY+=(-)
    _toucan_token_files "$cur"  # batch FILE
  elif [[ -z $command ]]; then
    mapfile -t COMPREPLY < <(_toucan_token_words "$cur" "batch profiles config cache completion")
  fi
}

complete -F _toucan_token toucan-token
