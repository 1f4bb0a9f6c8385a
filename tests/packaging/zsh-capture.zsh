# zsh -f zsh-capture.zsh FPATH_DIR OUT_FILE LINE: types LINE and <TAB> into an interactive zsh
# (in a pseudo-terminal, with compinit) and writes each completion it offers to OUT_FILE.
dir=$1 out=$2 line=$3
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='' PROMPT_EOL_MARK=''"
zpty -w z "fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "zstyle ':completion:*' menu no"
# Every candidate passes through compadd: log what it adds (calls that only query, -O/-A/-D, are
# passed straight on).
zpty -w z 'compadd() {
  if [[ ${@[(I)-[OAD]]} -gt 0 ]]; then builtin compadd "$@"; return; fi
  local -a hits; builtin compadd -A hits "$@"
  local hit; for hit in $hits; do print -r -- "$hit" >> '"${(q)out}"'; done
  builtin compadd "$@"
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z 'print -r -- "RE""ADY"'
zpty -r z text '*READY*'
# The line, <TAB>, then clear it and print a marker: input is handled in order, so once the
# marker is printed the completion has run.
zpty -w -n z "$line"$'\t\C-u'
zpty -w z 'print -r -- "DO""NE"'
zpty -r z text '*DONE*'
zpty -d z
