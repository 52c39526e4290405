# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for cella(1): commands, subcommands, options, and instance
# names asked of the daemon (`cella list -f csv -c n`, never autostarting it).

_cella_instances()
{
	CELLA_NO_AUTOSTART=1 cella list -f csv -c n 2>/dev/null
}

_cella()
{
	local cur prev words cword
	cur="${COMP_WORDS[COMP_CWORD]}"
	prev=""
	[ "$COMP_CWORD" -gt 0 ] && prev="${COMP_WORDS[COMP_CWORD-1]}"

	local commands="launch create start stop restart freeze unfreeze delete list info exec shell
		console file config profile network image snapshot copy rename operation monitor version help"

	# the command: first word that is not a global option
	local i cmd="" cmd_i=0
	for ((i = 1; i < COMP_CWORD; i++)); do
		case "${COMP_WORDS[i]}" in
		-*) ;;
		*) cmd="${COMP_WORDS[i]}"; cmd_i=$i; break ;;
		esac
	done

	if [ -z "$cmd" ]; then
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "--no-autostart --version --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
	fi

	local sub=""
	[ $((cmd_i + 1)) -lt "$COMP_CWORD" ] && sub="${COMP_WORDS[cmd_i+1]}"

	case "$prev" in
	-f|--format)
		COMPREPLY=($(compgen -W "table compact csv json yaml" -- "$cur"))
		return 0 ;;
	--type)
		if [ "$cmd" = monitor ]; then
			COMPREPLY=($(compgen -W "lifecycle operation logging" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "vps" -- "$cur"))
		fi
		return 0 ;;
	-c|--config|--columns|--timeout|--user|--group|--cwd|--env|--uid|--gid|--mode|--variant|--alias|--description|-p|--profile)
		return 0 ;;
	esac

	local opts=""
	case "$cmd" in
	launch|create) opts="--config -c --profile -p --no-profiles --type --ephemeral -e --description" ;;
	stop|restart) opts="--force -f --timeout" ;;
	delete) opts="--force -f" ;;
	list) opts="--format -f --columns -c" ;;
	exec) opts="--user --group --cwd --env -t -T" ;;
	console) opts="--show-log" ;;
	file) opts="--uid --gid --mode" ;;
	config) opts="--expanded" ;;
	image) opts="--format -f --variant --alias" ;;
	profile|snapshot|operation) opts="--format -f" ;;
	monitor) opts="--type --format -f" ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
		return 0
	fi

	local pos=$((COMP_CWORD - cmd_i))
	case "$cmd" in
	start|stop|restart|freeze|unfreeze|delete|info|shell|console|rename|list)
		COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur")) ;;
	exec)
		[ "$pos" -eq 1 ] && COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur")) ;;
	copy)
		[ "$pos" -eq 1 ] && COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur")) ;;
	launch|create)
		[ "$pos" -eq 1 ] && COMPREPLY=($(compgen -W "minimal debian/12 none" -- "$cur")) ;;
	file)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "push pull edit" -- "$cur"))
		elif [ "$sub" = push ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		else
			compopt -o nospace 2>/dev/null
			COMPREPLY=($(compgen -W "$(_cella_instances | sed 's|$|/|')" -- "$cur"))
		fi ;;
	config)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "set get unset show edit device" -- "$cur"))
		elif [ "$sub" = device ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -W "add remove set unset list show" -- "$cur"))
		elif [ "$pos" -eq 2 ] || { [ "$sub" = device ] && [ "$pos" -eq 3 ]; }; then
			COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur"))
		fi ;;
	network)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "list show info create set unset delete forward" -- "$cur"))
		elif [ "$sub" = forward ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -W "list show create delete port" -- "$cur"))
		fi ;;
	profile)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "list show create delete edit set unset get add remove" -- "$cur"))
		elif [ "$pos" -eq 2 ] && { [ "$sub" = add ] || [ "$sub" = remove ]; }; then
			COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur"))
		fi ;;
	image)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "list info build import delete alias" -- "$cur"))
		elif [ "$sub" = build ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -W "minimal debian/12" -- "$cur"))
		elif [ "$sub" = import ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -f -- "$cur"))
		elif [ "$sub" = alias ] && [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -W "create delete list" -- "$cur"))
		fi ;;
	snapshot)
		if [ "$pos" -eq 1 ]; then
			COMPREPLY=($(compgen -W "create list restore delete" -- "$cur"))
		elif [ "$pos" -eq 2 ]; then
			COMPREPLY=($(compgen -W "$(_cella_instances)" -- "$cur"))
		fi ;;
	operation)
		[ "$pos" -eq 1 ] && COMPREPLY=($(compgen -W "list show wait cancel" -- "$cur")) ;;
	help)
		[ "$pos" -eq 1 ] && COMPREPLY=($(compgen -W "$commands" -- "$cur")) ;;
	esac
	return 0
}

complete -F _cella cella
