@echo off
rem `secretless-desktop`, the command line of the installed app: the app's own Electron runs
rem the CLI as Node. Add this folder (<install dir>\resources\bin) to PATH to use it.
setlocal
set ELECTRON_RUN_AS_NODE=1
"%~dp0..\..\Secretless Desktop.exe" "%~dp0..\app.asar\bin\secretless-desktop.js" %*
