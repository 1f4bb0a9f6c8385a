# fish completion for toucan-token; installed as share/fish/vendor_completions.d/toucan-token.fish.

# JSON|@FILE|- arguments: files after "@", otherwise the two file forms as hints.
function __toucan_token_json_input
    set -l token (commandline -ct)
    if string match -q -- '@*' $token
        for path in (__fish_complete_path (string sub -s 2 -- $token))
            echo "@$path"
        end
    else
        printf '%s\t%s\n' @ 'read the JSON object from a file' - 'read it from standard input'
    end
end

# Profile names: the [profile.NAME] tables of the configuration file, read without running it.
function __toucan_token_profiles
    set -l config $TOUCAN_CONFIG
    if test -z "$config"
        set -l base $XDG_CONFIG_HOME
        test -n "$base"; or set base $HOME/.config
        set config $base/toucan-token/config.toml
    end
    test -f $config -a -r $config; or return
    string replace -rf -- '^\s*\[\s*profile\.(?:"([^"]*)"|([A-Za-z0-9_-]+))\s*\].*' '$1$2' <$config
end

# single: minting one token; batch: the batch subcommand; mint: either of the two.
set -l single 'not __fish_seen_subcommand_from batch profiles cache completion'
set -l batch '__fish_seen_subcommand_from batch'
set -l mint 'not __fish_seen_subcommand_from profiles cache completion'

complete -c toucan-token -f
complete -c toucan-token -n __fish_use_subcommand -a batch -d 'Mint one token per line of a JSON Lines or CSV file'
complete -c toucan-token -n __fish_use_subcommand -a profiles -d 'List the profiles of config.toml'
complete -c toucan-token -n __fish_use_subcommand -a config -d 'Show every setting and attribute of a mint and where it came from'
complete -c toucan-token -n __fish_use_subcommand -a cache -d 'The token cache'
complete -c toucan-token -n __fish_use_subcommand -a completion -d 'Print the completion script for a shell'
complete -c toucan-token -n '__fish_seen_subcommand_from completion; and not __fish_seen_subcommand_from bash zsh fish' -a 'bash zsh fish'
complete -c toucan-token -n '__fish_seen_subcommand_from cache; and not __fish_seen_subcommand_from clear' -a clear -d 'Remove every cached token'

complete -c toucan-token -n $single -s u -l distinct-id -x -d "The end user's unique id"
complete -c toucan-token -n $single -s o -l output -x -a 'json token header env shell github' -d 'Output format'
complete -c toucan-token -n $single -l version -d 'Print the version and exit'
complete -c toucan-token -n $single -l cache -d 'Reuse a cached token for the same request'

complete -c toucan-token -n $mint -s r -l role -x -a explorer -d "The end user's role"
complete -c toucan-token -n $mint -s a -l attribute -x -d 'One attribute: KEY=VALUE or KEY:=JSON'
complete -c toucan-token -n $mint -l attributes -x -a '(__toucan_token_json_input)' -d 'The whole attributes object: JSON, @FILE or -'
complete -c toucan-token -n $mint -l permissions -x -a '(__toucan_token_json_input)' -d 'The permissions object: JSON, @FILE or -'
complete -c toucan-token -n $mint -l base-url -x -d 'Instance URL'
complete -c toucan-token -n $mint -l endpoint-path -x -d 'Path below the base URL'
complete -c toucan-token -n $mint -l api-key-env -x -a '(set --names --export)' -d 'Environment variable that holds the API key'
complete -c toucan-token -n $mint -l api-key-file -r -F -d 'Read the API key from a file (- for stdin)'
complete -c toucan-token -n $mint -l timeout -x -d 'Limit for one attempt, in seconds'
complete -c toucan-token -n $mint -l connect-timeout -x -d 'Limit for connecting, in seconds'
complete -c toucan-token -n $mint -l retries -x -d 'Extra attempts on transient failures'
complete -c toucan-token -n $mint -l cacert -r -F -d 'CA bundle to trust instead of the system store'
complete -c toucan-token -n $mint -l schema -r -F -d 'Attribute schema to check against (JSON or TOML)'
complete -c toucan-token -n $mint -l no-cache -d 'Do not use the token cache'
complete -c toucan-token -n $mint -l min-ttl -x -d 'Life a cached token needs left, in seconds'
complete -c toucan-token -n $mint -l dry-run -d 'Print the request that would be sent; send nothing'
complete -c toucan-token -n $mint -s v -l verbose -d 'Progress and diagnostics on stderr'
complete -c toucan-token -n $mint -s q -l quiet -d 'No warnings or progress on stderr'

# --profile also picks the profile that "profiles" marks active.
complete -c toucan-token -n 'not __fish_seen_subcommand_from cache completion' -l profile -x -a '(__toucan_token_profiles)' -d 'Profile of config.toml to use'
complete -c toucan-token -s h -l help -d 'Print help and exit'

complete -c toucan-token -n $batch -l concurrency -x -d 'Requests in flight (1-256)'
complete -c toucan-token -n $batch -l csv -d 'Read CSV with a header row'
complete -c toucan-token -n $batch -l keep-going -d 'Send every line even after a failure every line would meet'
complete -c toucan-token -n $batch -F -d 'JSON Lines or CSV file'
